//! The message catalog: every prompt and status string the agent builds, in
//! English, German, French, Spanish and Simplified Chinese. A unit test checks
//! that every language has every message with the same placeholders.

/// Languages in the catalog (English first: the fallback).
pub const LANGUAGES: [&str; 5] = ["en", "de", "fr", "es", "zh-CN"];

/// The messages. `{0}`, `{1}` are arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Msg {
    StateIdle,
    StateChecking,
    StateInstalling,
    StateAwaitingConsent,
    StateDeferred,
    StateCancelling,
    /// {0} version, {1} description.
    ConsentInstall,
    /// {0} minutes.
    WaitingForWindow,
    /// {0} version.
    Installed,
    /// {0} reason.
    Failed,
    Cancelled,
    Deferred,
    CheckDone,
    Writing,
    Verifying,
    /// {0} package name.
    ConfirmDownload,
}

/// Every message, for the completeness test.
pub const ALL: [Msg; 16] = [
    Msg::StateIdle,
    Msg::StateChecking,
    Msg::StateInstalling,
    Msg::StateAwaitingConsent,
    Msg::StateDeferred,
    Msg::StateCancelling,
    Msg::ConsentInstall,
    Msg::WaitingForWindow,
    Msg::Installed,
    Msg::Failed,
    Msg::Cancelled,
    Msg::Deferred,
    Msg::CheckDone,
    Msg::Writing,
    Msg::Verifying,
    Msg::ConfirmDownload,
];

/// The message in a catalog language (see [`LANGUAGES`]); English otherwise.
pub fn lookup(lang: &str, msg: Msg) -> &'static str {
    match lang {
        "de" => de(msg),
        "fr" => fr(msg),
        "es" => es(msg),
        "zh-CN" => zh_cn(msg),
        _ => en(msg),
    }
}

fn en(m: Msg) -> &'static str {
    match m {
        Msg::StateIdle => "Ready",
        Msg::StateChecking => "Checking for updates",
        Msg::StateInstalling => "Installing the update",
        Msg::StateAwaitingConsent => "Waiting for your consent",
        Msg::StateDeferred => "Update postponed",
        Msg::StateCancelling => "Cancelling",
        Msg::ConsentInstall => "Install update {0}? {1}",
        Msg::WaitingForWindow => "The update will be installed in the maintenance window (in {0} minutes)",
        Msg::Installed => "Update {0} installed; it is used after the next restart",
        Msg::Failed => "The update failed: {0}",
        Msg::Cancelled => "The update was cancelled",
        Msg::Deferred => "The update was postponed",
        Msg::CheckDone => "Check for updates finished",
        Msg::Writing => "Writing the update",
        Msg::Verifying => "Verifying the update",
        Msg::ConfirmDownload => "Download the firmware update {0}?",
    }
}

fn de(m: Msg) -> &'static str {
    match m {
        Msg::StateIdle => "Bereit",
        Msg::StateChecking => "Suche nach Updates",
        Msg::StateInstalling => "Update wird installiert",
        Msg::StateAwaitingConsent => "Warte auf Ihre Zustimmung",
        Msg::StateDeferred => "Update verschoben",
        Msg::StateCancelling => "Wird abgebrochen",
        Msg::ConsentInstall => "Update {0} installieren? {1}",
        Msg::WaitingForWindow => "Das Update wird im Wartungsfenster installiert (in {0} Minuten)",
        Msg::Installed => "Update {0} installiert; es wird nach dem nächsten Neustart verwendet",
        Msg::Failed => "Das Update ist fehlgeschlagen: {0}",
        Msg::Cancelled => "Das Update wurde abgebrochen",
        Msg::Deferred => "Das Update wurde verschoben",
        Msg::CheckDone => "Suche nach Updates beendet",
        Msg::Writing => "Update wird geschrieben",
        Msg::Verifying => "Update wird geprüft",
        Msg::ConfirmDownload => "Firmware-Update {0} herunterladen?",
    }
}

fn fr(m: Msg) -> &'static str {
    match m {
        Msg::StateIdle => "Prêt",
        Msg::StateChecking => "Recherche de mises à jour",
        Msg::StateInstalling => "Installation de la mise à jour",
        Msg::StateAwaitingConsent => "En attente de votre accord",
        Msg::StateDeferred => "Mise à jour reportée",
        Msg::StateCancelling => "Annulation",
        Msg::ConsentInstall => "Installer la mise à jour {0} ? {1}",
        Msg::WaitingForWindow => "La mise à jour sera installée pendant la fenêtre de maintenance (dans {0} minutes)",
        Msg::Installed => "Mise à jour {0} installée ; elle sera utilisée après le prochain redémarrage",
        Msg::Failed => "La mise à jour a échoué : {0}",
        Msg::Cancelled => "La mise à jour a été annulée",
        Msg::Deferred => "La mise à jour a été reportée",
        Msg::CheckDone => "Recherche de mises à jour terminée",
        Msg::Writing => "Écriture de la mise à jour",
        Msg::Verifying => "Vérification de la mise à jour",
        Msg::ConfirmDownload => "Télécharger la mise à jour du micrologiciel {0} ?",
    }
}

fn es(m: Msg) -> &'static str {
    match m {
        Msg::StateIdle => "Listo",
        Msg::StateChecking => "Buscando actualizaciones",
        Msg::StateInstalling => "Instalando la actualización",
        Msg::StateAwaitingConsent => "Esperando su consentimiento",
        Msg::StateDeferred => "Actualización aplazada",
        Msg::StateCancelling => "Cancelando",
        Msg::ConsentInstall => "¿Instalar la actualización {0}? {1}",
        Msg::WaitingForWindow => "La actualización se instalará en la ventana de mantenimiento (en {0} minutos)",
        Msg::Installed => "Actualización {0} instalada; se usará tras el próximo reinicio",
        Msg::Failed => "La actualización falló: {0}",
        Msg::Cancelled => "La actualización se canceló",
        Msg::Deferred => "La actualización se aplazó",
        Msg::CheckDone => "Búsqueda de actualizaciones terminada",
        Msg::Writing => "Escribiendo la actualización",
        Msg::Verifying => "Verificando la actualización",
        Msg::ConfirmDownload => "¿Descargar la actualización de firmware {0}?",
    }
}

fn zh_cn(m: Msg) -> &'static str {
    match m {
        Msg::StateIdle => "就绪",
        Msg::StateChecking => "正在检查更新",
        Msg::StateInstalling => "正在安装更新",
        Msg::StateAwaitingConsent => "等待您的同意",
        Msg::StateDeferred => "更新已推迟",
        Msg::StateCancelling => "正在取消",
        Msg::ConsentInstall => "安装更新 {0}？{1}",
        Msg::WaitingForWindow => "更新将在维护时段内安装（{0} 分钟后）",
        Msg::Installed => "更新 {0} 已安装，将在下次重启后生效",
        Msg::Failed => "更新失败：{0}",
        Msg::Cancelled => "更新已取消",
        Msg::Deferred => "更新已推迟",
        Msg::CheckDone => "检查更新已完成",
        Msg::Writing => "正在写入更新",
        Msg::Verifying => "正在校验更新",
        Msg::ConfirmDownload => "下载固件更新 {0}？",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn placeholders(s: &str) -> Vec<usize> {
        (0..4).filter(|i| s.contains(&format!("{{{i}}}"))).collect()
    }

    #[test]
    fn every_language_has_every_message_with_the_same_placeholders() {
        for m in ALL {
            let english = lookup("en", m);
            for lang in LANGUAGES {
                let t = lookup(lang, m);
                assert!(!t.is_empty(), "{lang} {m:?}");
                assert_eq!(placeholders(t), placeholders(english), "{lang} {m:?}");
                if lang != "en" {
                    assert_ne!(t, english, "{lang} {m:?} is not translated");
                }
            }
        }
    }
}
