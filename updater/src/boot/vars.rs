//! An ordered `name=value` list, as in the GRUB and U-Boot environments: edits keep
//! the position of existing variables and append new ones.

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Vars(Vec<(String, String)>);

impl Vars {
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    pub(crate) fn set(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        match self.0.iter_mut().find(|(n, _)| n == name) {
            Some(entry) => entry.1 = value,
            None => self.0.push((name.to_string(), value)),
        }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// A small decimal number, or `None` when absent or not a number.
    pub(crate) fn number(&self, name: &str) -> Option<u8> {
        self.get(name)?.trim().parse().ok()
    }

    /// The slots named in an order variable (`"A B"`), first one first.
    pub(crate) fn order(&self, name: &str) -> Vec<crate::slot::Slot> {
        self.get(name).unwrap_or("").split_ascii_whitespace().filter_map(|s| s.parse().ok()).collect()
    }
}

impl FromIterator<(String, String)> for Vars {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> Vars {
        Vars(iter.into_iter().collect())
    }
}
