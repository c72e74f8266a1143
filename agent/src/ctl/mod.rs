//! fotactl library (filled in below).
