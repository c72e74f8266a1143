//! fotad-updater: signed `.fota` packages, their builder, and the streaming
//! installer that writes them into the inactive slot.
