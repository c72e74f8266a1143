//! The client side of `org.fotad.Agent1` (see `dbus/org.fotad.Agent1.xml`).

use std::collections::HashMap;

use zbus::proxy;
use zbus::zvariant::OwnedValue;

#[proxy(
    interface = "org.fotad.Agent1",
    default_service = "org.fotad.Agent1",
    default_path = "/org/fotad/Agent1",
    gen_blocking = false
)]
pub trait Agent1 {
    fn check_for_update(&self) -> zbus::Result<()>;
    fn accept(&self) -> zbus::Result<()>;
    fn defer(&self, seconds: u32) -> zbus::Result<()>;
    fn cancel(&self) -> zbus::Result<()>;
    fn respond_to_prompt(&self, id: u32, action: &str, values: &[&str]) -> zbus::Result<()>;
    #[zbus(name = "RegisterUi")]
    fn register_ui(&self) -> zbus::Result<()>;
    fn set_language(&self, language: &str) -> zbus::Result<()>;
    fn notify(&self, package0: &[u8]) -> zbus::Result<()>;
    fn install_file(&self, path: &str) -> zbus::Result<()>;
    fn enter_pin(&self, pin: &str) -> zbus::Result<u32>;
    fn get_sim_identity(&self) -> zbus::Result<(String, String, String, String)>;

    #[zbus(property)]
    fn state(&self) -> zbus::Result<String>;
    #[zbus(property, name = "FumoState")]
    fn fumo_state(&self) -> zbus::Result<u32>;
    #[zbus(property)]
    fn progress(&self) -> zbus::Result<(u32, u64, u64, String)>;
    #[zbus(property)]
    fn current_version(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn booted_slot(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn slots(&self) -> zbus::Result<HashMap<String, String>>;
    #[zbus(property)]
    fn last_result(&self) -> zbus::Result<(u32, String)>;
    #[zbus(property)]
    fn language(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn sim(&self) -> zbus::Result<(String, u32)>;

    #[zbus(signal)]
    fn prompt(
        &self,
        id: u32,
        kind: String,
        text: String,
        choices: Vec<String>,
        options: HashMap<String, OwnedValue>,
    ) -> zbus::Result<()>;
    #[zbus(signal)]
    fn prompt_closed(&self, id: u32, outcome: String) -> zbus::Result<()>;
    #[zbus(signal)]
    fn completed(&self, job: String, code: u32, message: String) -> zbus::Result<()>;
}
