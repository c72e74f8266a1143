//! The messages the agent itself builds (prompt texts, status lines), in the
//! device's language, from a catalog compiled into the binary.

mod catalog;

pub use catalog::{Msg, ALL, LANGUAGES};

/// Normalizes a language tag or POSIX locale: `de_DE.UTF-8` → `de-DE`,
/// `zh_cn` → `zh-CN`, `EN` → `en`. `None` when it is not a language tag.
pub fn normalize_tag(raw: &str) -> Option<String> {
    let base = raw.split(['.', '@']).next().unwrap_or(raw);
    let mut parts = base.split(['-', '_']);
    let lang = parts.next()?.to_ascii_lowercase();
    if !(2..=3).contains(&lang.len()) || !lang.bytes().all(|b| b.is_ascii_lowercase()) {
        return None;
    }
    let mut out = lang;
    for p in parts {
        if p.is_empty() || p.len() > 8 || !p.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return None;
        }
        out.push('-');
        match p.len() {
            2 => out.push_str(&p.to_ascii_uppercase()),
            4 => {
                out.push_str(&p[..1].to_ascii_uppercase());
                out.push_str(&p[1..].to_ascii_lowercase());
            }
            _ => out.push_str(&p.to_ascii_lowercase()),
        }
    }
    Some(out)
}

/// The language from the locale environment (`LC_ALL`, then `LC_MESSAGES`, then
/// `LANG`), as POSIX defines the precedence; `C`/`POSIX` and unset mean English.
pub fn from_locale(get: impl Fn(&str) -> Option<String>) -> String {
    ["LC_ALL", "LC_MESSAGES", "LANG"]
        .iter()
        .filter_map(|k| get(k).filter(|v| !v.is_empty()))
        .find_map(|v| normalize_tag(&v))
        .unwrap_or_else(|| "en".to_string())
}

/// The catalog language used for `lang`: the exact tag, else its primary
/// subtag, else English (`de-AT` → `de`, `zh-TW` → `zh-CN` is *not* assumed).
pub fn catalog_language(lang: &str) -> &'static str {
    let primary = lang.split('-').next().unwrap_or(lang);
    LANGUAGES
        .iter()
        .find(|l| **l == lang)
        .or_else(|| LANGUAGES.iter().find(|l| **l == primary))
        .or_else(|| (lang == "zh-Hans" || lang == "zh-Hans-CN" || lang == "zh").then_some(&"zh-CN"))
        .copied()
        .unwrap_or("en")
}

/// The message in `lang` with `{0}`, `{1}`, ... replaced by `args`.
pub fn text(lang: &str, msg: Msg, args: &[&str]) -> String {
    let mut s = catalog::lookup(catalog_language(lang), msg).to_string();
    for (i, a) in args.iter().enumerate() {
        s = s.replace(&format!("{{{i}}}"), a);
    }
    s
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn normalizes_tags_and_locales() {
        assert_eq!(normalize_tag("de_DE.UTF-8").as_deref(), Some("de-DE"));
        assert_eq!(normalize_tag("zh_cn").as_deref(), Some("zh-CN"));
        assert_eq!(normalize_tag("zh-hans").as_deref(), Some("zh-Hans"));
        assert_eq!(normalize_tag("EN").as_deref(), Some("en"));
        assert_eq!(normalize_tag("C"), None);
        assert_eq!(normalize_tag("de--x"), None);
        assert_eq!(normalize_tag(""), None);
    }

    #[test]
    fn locale_precedence_and_fallback() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
        };
        assert_eq!(from_locale(env(&[("LANG", "fr_FR.UTF-8"), ("LC_ALL", "es_ES.UTF-8")])), "es-ES");
        assert_eq!(from_locale(env(&[("LANG", "fr_FR.UTF-8")])), "fr-FR");
        assert_eq!(from_locale(env(&[("LANG", "C.UTF-8")])), "en");
        assert_eq!(from_locale(env(&[])), "en");
    }

    #[test]
    fn picks_the_catalog_and_substitutes_arguments() {
        assert_eq!(catalog_language("de-AT"), "de");
        assert_eq!(catalog_language("zh-CN"), "zh-CN");
        assert_eq!(catalog_language("zh"), "zh-CN");
        assert_eq!(catalog_language("pt-BR"), "en");
        assert_eq!(text("de-AT", Msg::StateIdle, &[]), "Bereit");
        assert_eq!(text("en", Msg::ConsentInstall, &["2.0", "Fixes"]), "Install update 2.0? Fixes");
        assert!(text("zh-CN", Msg::ConsentInstall, &["2.0", "x"]).contains("2.0"));
    }
}
