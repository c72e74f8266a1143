//! The OMA DM 1.2 protocol stack: the message model and its XML and WBXML
//! codecs (`syncml`), the DM tree with its ACLs (`tree`), the standard
//! management objects (`mo`), authentication (`auth`), the HTTP(S) client and
//! transport (`http_client`, `transport`), sessions (`session`),
//! notifications (`notification`, `wap_push`), the DM status codes
//! (`status`), the `[dm]` settings (`config`) and the client facade
//! (`client`). The download agent shares `http_client`.

pub mod auth;
pub mod client;
pub mod config;
pub mod http_client;
pub mod mo;
pub mod notification;
pub mod session;
pub mod status;
pub mod syncml;
pub mod transport;
pub mod tree;
pub mod wap_push;
