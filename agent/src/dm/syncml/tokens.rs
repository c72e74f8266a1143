//! WBXML tag tokens of the SyncML 1.2 code page 0 and the MetInf code page 1
//! (OMA SyncML Representation Protocol, WBXML annex; same values as libwbxml).

/// Code page 0: SyncML.
const PAGE0: &[(u8, &str)] = &[
    (0x05, "Add"),
    (0x06, "Alert"),
    (0x07, "Archive"),
    (0x08, "Atomic"),
    (0x09, "Chal"),
    (0x0A, "Cmd"),
    (0x0B, "CmdID"),
    (0x0C, "CmdRef"),
    (0x0D, "Copy"),
    (0x0E, "Cred"),
    (0x0F, "Data"),
    (0x10, "Delete"),
    (0x11, "Exec"),
    (0x12, "Final"),
    (0x13, "Get"),
    (0x14, "Item"),
    (0x15, "Lang"),
    (0x16, "LocName"),
    (0x17, "LocURI"),
    (0x18, "Map"),
    (0x19, "MapItem"),
    (0x1A, "Meta"),
    (0x1B, "MsgID"),
    (0x1C, "MsgRef"),
    (0x1D, "NoResp"),
    (0x1E, "NoResults"),
    (0x1F, "Put"),
    (0x20, "Replace"),
    (0x21, "RespURI"),
    (0x22, "Results"),
    (0x23, "Search"),
    (0x24, "Sequence"),
    (0x25, "SessionID"),
    (0x26, "SftDel"),
    (0x27, "Source"),
    (0x28, "SourceRef"),
    (0x29, "Status"),
    (0x2A, "Sync"),
    (0x2B, "SyncBody"),
    (0x2C, "SyncHdr"),
    (0x2D, "SyncML"),
    (0x2E, "Target"),
    (0x2F, "TargetRef"),
    (0x31, "VerDTD"),
    (0x32, "VerProto"),
    (0x33, "NumberOfChanges"),
    (0x34, "MoreData"),
    (0x35, "Field"),
    (0x36, "Filter"),
    (0x37, "Record"),
    (0x38, "FilterType"),
    (0x39, "SourceParent"),
    (0x3A, "TargetParent"),
    (0x3B, "Move"),
    (0x3C, "Correlator"),
];

/// Code page 1: MetInf.
const PAGE1: &[(u8, &str)] = &[
    (0x05, "Anchor"),
    (0x06, "EMI"),
    (0x07, "Format"),
    (0x08, "FreeID"),
    (0x09, "FreeMem"),
    (0x0A, "Last"),
    (0x0B, "Mark"),
    (0x0C, "MaxMsgSize"),
    (0x0D, "Mem"),
    (0x0E, "MetInf"),
    (0x0F, "Next"),
    (0x10, "NextNonce"),
    (0x11, "SharedMem"),
    (0x12, "Size"),
    (0x13, "Type"),
    (0x14, "Version"),
    (0x15, "MaxObjSize"),
    (0x16, "FieldLevel"),
];

fn page(p: u8) -> &'static [(u8, &'static str)] {
    if p == 0 {
        PAGE0
    } else {
        PAGE1
    }
}

/// The tag name of `token` on code page `p` (0 or 1).
pub fn name(p: u8, token: u8) -> Option<&'static str> {
    if p > 1 {
        return None;
    }
    page(p).iter().find(|(t, _)| *t == token).map(|(_, n)| *n)
}

/// The code page and token of a tag name.
pub fn token(name: &str) -> Option<(u8, u8)> {
    for p in 0..=1u8 {
        if let Some((t, _)) = page(p).iter().find(|(_, n)| *n == name) {
            return Some((p, *t));
        }
    }
    None
}

/// The code page a tag name lives on.
pub fn page_of(name: &str) -> Option<u8> {
    token(name).map(|(p, _)| p)
}
