//! What a virtual SIM holds: its generation, identity, PIN and operator file,
//! and the file system built from them.

use super::fs::{imsi_bytes, msisdn_record, swapped_bcd, FileSystem, NodeKind, USIM_AID};

/// 2G SIM (TS 51.011, CLA A0) or 3G UICC with a USIM (TS 102 221, CLA 00).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardKind {
    Sim2g,
    Usim,
}

/// The operator file, at a path of FIDs below the MF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorFile {
    pub path: Vec<u16>,
    pub content: Vec<u8>,
}

/// A card profile; tests build one and change what they need.
#[derive(Debug, Clone)]
pub struct CardProfile {
    pub kind: CardKind,
    pub iccid: String,
    pub imsi: String,
    pub msisdn: Option<String>,
    /// `Some` = PIN enabled with this value.
    pub pin: Option<String>,
    pub pin_tries: u8,
    pub ef_fota: Option<OperatorFile>,
}

impl CardProfile {
    /// A USIM with a typical test identity, PIN disabled, no operator file.
    pub fn usim() -> CardProfile {
        CardProfile {
            kind: CardKind::Usim,
            iccid: "8949226000012345678".into(),
            imsi: "262011234567890".into(),
            msisdn: Some("+491701234567".into()),
            pin: None,
            pin_tries: 3,
            ef_fota: None,
        }
    }

    /// A 2G SIM with another identity.
    pub fn sim2g() -> CardProfile {
        CardProfile {
            kind: CardKind::Sim2g,
            iccid: "8944110012345678901".into(),
            imsi: "23410987654321".into(),
            msisdn: Some("447700900123".into()),
            ..CardProfile::usim()
        }
    }

    /// Builds the file system: MF/EF_ICCID, DF_GSM/EF_IMSI, DF_TELECOM or
    /// ADF.USIM with EF_MSISDN, and the operator file.
    pub fn file_system(&self) -> FileSystem {
        let mut fs = FileSystem::default();
        fs.add(0, 0x2FE2, NodeKind::Transparent(swapped_bcd(&self.iccid, 10)), false);
        let gsm = fs.add(0, 0x7F20, NodeKind::Df, false);
        fs.add(gsm, 0x6F07, NodeKind::Transparent(imsi_bytes(&self.imsi)), true);
        let msisdn = self.msisdn.as_deref().map(|m| NodeKind::Records(vec![msisdn_record(m)]));
        match self.kind {
            CardKind::Sim2g => {
                let telecom = fs.add(0, 0x7F10, NodeKind::Df, false);
                if let Some(m) = msisdn {
                    fs.add(telecom, 0x6F40, m, true);
                }
            }
            CardKind::Usim => {
                let mut aid = USIM_AID.to_vec();
                aid.extend([0xFF, 0x49, 0xFF, 0x89]);
                let adf = fs.add(0, 0x7FFF, NodeKind::Adf(aid), false);
                fs.add(adf, 0x6F07, NodeKind::Transparent(imsi_bytes(&self.imsi)), true);
                if let Some(m) = msisdn {
                    fs.add(adf, 0x6F40, m, true);
                }
            }
        }
        if let Some(f) = &self.ef_fota {
            add_path(&mut fs, &f.path, &f.content);
        }
        fs
    }
}

/// Creates the DFs of `path` that are missing and the EF at its end.
fn add_path(fs: &mut FileSystem, path: &[u16], content: &[u8]) {
    let Some((ef, dirs)) = path.split_last() else {
        return;
    };
    let mut dir = 0;
    for &fid in dirs {
        dir = match fs.child(dir, fid) {
            Some(d) => d,
            None => fs.add(dir, fid, NodeKind::Df, false),
        };
    }
    fs.add(dir, *ef, NodeKind::Transparent(content.to_vec()), false);
}
