//! The SyncML DM message model: header, body and the commands a DM 1.2 client
//! sends and receives. Codecs (XML, WBXML) map these types to bytes through the
//! generic element tree in [`super::element`].

/// One SyncML message (`<SyncML>`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    pub hdr: SyncHdr,
    pub body: SyncBody,
}

/// `<SyncHdr>`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncHdr {
    pub ver_dtd: String,
    pub ver_proto: String,
    pub session_id: String,
    pub msg_id: u32,
    pub target: Loc,
    pub source: Loc,
    pub resp_uri: Option<String>,
    pub no_resp: bool,
    pub cred: Option<Cred>,
    pub meta: Option<Meta>,
}

/// `<SyncBody>`: the commands in order, and whether `<Final/>` ends the package.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncBody {
    pub commands: Vec<Command>,
    pub final_flag: bool,
}

/// A target or source location (`LocURI` + optional `LocName`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Loc {
    pub uri: String,
    pub name: Option<String>,
}

impl Loc {
    pub fn uri(uri: impl Into<String>) -> Self {
        Loc { uri: uri.into(), name: None }
    }
}

/// `<Meta>` with the MetInf fields DM uses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Meta {
    pub format: Option<String>,
    pub type_: Option<String>,
    pub mark: Option<String>,
    pub size: Option<u64>,
    /// Base64 text, as in XML; WBXML opaque nonces are re-encoded to base64.
    pub next_nonce: Option<String>,
    pub version: Option<String>,
    pub max_msg_size: Option<u64>,
    pub max_obj_size: Option<u64>,
    pub emi: Option<String>,
}

impl Meta {
    pub fn is_empty(&self) -> bool {
        *self == Meta::default()
    }
}

/// `<Cred>`: credentials; `meta.type_` names the scheme.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cred {
    pub meta: Meta,
    pub data: Vec<u8>,
}

/// `<Chal>`: a challenge in a Status.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Chal {
    pub meta: Meta,
}

/// `<Item>`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Item {
    pub target: Option<Loc>,
    pub source: Option<Loc>,
    pub meta: Option<Meta>,
    pub data: Option<Vec<u8>>,
    pub more_data: bool,
}

impl Item {
    pub fn target_uri(&self) -> Option<&str> {
        self.target.as_ref().map(|l| l.uri.as_str())
    }
    pub fn source_uri(&self) -> Option<&str> {
        self.source.as_ref().map(|l| l.uri.as_str())
    }
}

/// The item-carrying commands: Add, Replace, Delete, Get, Copy, Exec.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ItemCmd {
    pub cmd_id: u32,
    pub no_resp: bool,
    pub cred: Option<Cred>,
    pub meta: Option<Meta>,
    pub correlator: Option<String>,
    pub items: Vec<Item>,
}

/// `<Alert>`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Alert {
    pub cmd_id: u32,
    pub no_resp: bool,
    pub cred: Option<Cred>,
    pub correlator: Option<String>,
    pub data: u32,
    pub items: Vec<Item>,
}

/// `<Sequence>` and `<Atomic>`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Container {
    pub cmd_id: u32,
    pub no_resp: bool,
    pub meta: Option<Meta>,
    pub commands: Vec<Command>,
}

/// `<Status>`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Status {
    pub cmd_id: u32,
    pub msg_ref: u32,
    pub cmd_ref: u32,
    pub cmd: String,
    pub target_ref: Vec<String>,
    pub source_ref: Vec<String>,
    pub cred: Option<Cred>,
    pub chal: Option<Chal>,
    pub code: u16,
    pub items: Vec<Item>,
}

/// `<Results>`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Results {
    pub cmd_id: u32,
    pub msg_ref: u32,
    pub cmd_ref: u32,
    pub meta: Option<Meta>,
    pub target_ref: Vec<String>,
    pub source_ref: Vec<String>,
    pub items: Vec<Item>,
}

/// The firmware-update commands of the early SyncML DM proposal that
/// predates FUMO, each with the element name it arrived under (a generic form
/// such as `Download` is answered with that name in `Status/Cmd`). XML only:
/// WBXML has no tokens for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirmwareCmd {
    GetFirmwareUpdate,
    /// The generic form of `GetFirmwareUpdate`.
    Download,
    VerifyFirmwareUpdate,
    SaveFirmwareUpdate,
    ApplyFirmwareUpdate,
    /// The generic form of `ApplyFirmwareUpdate`.
    Update,
    ConfirmFirmwareUpdate,
}

/// What a [`FirmwareCmd`] asks for, whichever name it came under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirmwareAction {
    Get,
    Verify,
    Save,
    Apply,
    Confirm,
}

impl FirmwareCmd {
    pub const ALL: [FirmwareCmd; 7] = [
        FirmwareCmd::GetFirmwareUpdate,
        FirmwareCmd::Download,
        FirmwareCmd::VerifyFirmwareUpdate,
        FirmwareCmd::SaveFirmwareUpdate,
        FirmwareCmd::ApplyFirmwareUpdate,
        FirmwareCmd::Update,
        FirmwareCmd::ConfirmFirmwareUpdate,
    ];

    /// The element name.
    pub fn name(self) -> &'static str {
        match self {
            FirmwareCmd::GetFirmwareUpdate => "GetFirmwareUpdate",
            FirmwareCmd::Download => "Download",
            FirmwareCmd::VerifyFirmwareUpdate => "VerifyFirmwareUpdate",
            FirmwareCmd::SaveFirmwareUpdate => "SaveFirmwareUpdate",
            FirmwareCmd::ApplyFirmwareUpdate => "ApplyFirmwareUpdate",
            FirmwareCmd::Update => "Update",
            FirmwareCmd::ConfirmFirmwareUpdate => "ConfirmFirmwareUpdate",
        }
    }

    pub fn from_name(name: &str) -> Option<FirmwareCmd> {
        FirmwareCmd::ALL.into_iter().find(|c| c.name() == name)
    }

    pub fn action(self) -> FirmwareAction {
        match self {
            FirmwareCmd::GetFirmwareUpdate | FirmwareCmd::Download => FirmwareAction::Get,
            FirmwareCmd::VerifyFirmwareUpdate => FirmwareAction::Verify,
            FirmwareCmd::SaveFirmwareUpdate => FirmwareAction::Save,
            FirmwareCmd::ApplyFirmwareUpdate | FirmwareCmd::Update => FirmwareAction::Apply,
            FirmwareCmd::ConfirmFirmwareUpdate => FirmwareAction::Confirm,
        }
    }
}

/// A SyncML DM command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Add(ItemCmd),
    Replace(ItemCmd),
    Delete(ItemCmd),
    Get(ItemCmd),
    Copy(ItemCmd),
    Exec(ItemCmd),
    /// A legacy firmware-update command (items like Exec's).
    Firmware(FirmwareCmd, ItemCmd),
    Alert(Alert),
    Sequence(Container),
    Atomic(Container),
    Status(Status),
    Results(Results),
}

impl Command {
    /// The element name, as used in `Status/Cmd`.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Add(_) => "Add",
            Command::Replace(_) => "Replace",
            Command::Delete(_) => "Delete",
            Command::Get(_) => "Get",
            Command::Copy(_) => "Copy",
            Command::Exec(_) => "Exec",
            Command::Firmware(f, _) => f.name(),
            Command::Alert(_) => "Alert",
            Command::Sequence(_) => "Sequence",
            Command::Atomic(_) => "Atomic",
            Command::Status(_) => "Status",
            Command::Results(_) => "Results",
        }
    }

    pub fn cmd_id(&self) -> u32 {
        self.common().0
    }

    /// Whether the sender asked for no Status (always true for Status and
    /// Results, which are never answered).
    pub fn no_resp(&self) -> bool {
        self.common().1
    }

    /// CmdID and NoResp of every command kind.
    fn common(&self) -> (u32, bool) {
        match self {
            Command::Add(c)
            | Command::Replace(c)
            | Command::Delete(c)
            | Command::Get(c)
            | Command::Copy(c)
            | Command::Exec(c)
            | Command::Firmware(_, c) => (c.cmd_id, c.no_resp),
            Command::Alert(a) => (a.cmd_id, a.no_resp),
            Command::Sequence(c) | Command::Atomic(c) => (c.cmd_id, c.no_resp),
            Command::Status(s) => (s.cmd_id, true),
            Command::Results(r) => (r.cmd_id, true),
        }
    }

    pub fn set_cmd_id(&mut self, id: u32) {
        let slot = match self {
            Command::Add(c)
            | Command::Replace(c)
            | Command::Delete(c)
            | Command::Get(c)
            | Command::Copy(c)
            | Command::Exec(c)
            | Command::Firmware(_, c) => &mut c.cmd_id,
            Command::Alert(a) => &mut a.cmd_id,
            Command::Sequence(c) | Command::Atomic(c) => &mut c.cmd_id,
            Command::Status(s) => &mut s.cmd_id,
            Command::Results(r) => &mut r.cmd_id,
        };
        *slot = id;
    }
}
