#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use super::*;
use crate::dm::status::StatusCode;

fn chr(s: &str) -> NewValue {
    NewValue { format: Some("chr".into()), type_: None, value: Value::Inline(s.as_bytes().to_vec()) }
}

fn node() -> NewValue {
    NewValue { format: Some("node".into()), type_: None, value: Value::Inline(Vec::new()) }
}

#[allow(clippy::needless_pass_by_value)]
fn code(e: TreeError) -> u16 {
    StatusCode::from(&e).code()
}

fn data(items: &[GetItem]) -> String {
    match items[0].data.as_ref().unwrap() {
        Value::Inline(b) => String::from_utf8(b.clone()).unwrap(),
        Value::File { .. } => panic!("file value"),
    }
}

#[test]
fn add_get_replace_delete_a_leaf() {
    let mut t = Tree::new(UriLimits::default());
    let s = Who::Server("srv1");
    t.add(s, "./Vendor/a", chr("1")).unwrap();
    assert_eq!(data(&t.get(s, "./Vendor/a").unwrap()), "1");
    assert_eq!(data(&t.get(s, "./Vendor").unwrap()), "a");
    assert_eq!(code(t.add(s, "./Vendor/a", chr("2")).unwrap_err()), 418);
    // ./Vendor, created by srv1 without Replace rights on the root, is srv1's.
    assert_eq!(data(&t.get(s, "./Vendor?prop=ACL").unwrap()), "Add=srv1&Delete=srv1&Get=srv1&Replace=srv1");
    assert_eq!(data(&t.get(s, "./Vendor/a?prop=ACL").unwrap()), "", "a leaf inherits");
    t.replace(s, "./Vendor/a", chr("2")).unwrap();
    assert_eq!(data(&t.get(s, "./Vendor/a").unwrap()), "2");
    assert_eq!(data(&t.get(s, "./Vendor/a?prop=VerNo").unwrap()), "2");
    let other = Who::Server("srv2");
    assert_eq!(code(t.get(other, "./Vendor/a").unwrap_err()), 425);
    assert_eq!(code(t.replace(other, "./Vendor/a", chr("3")).unwrap_err()), 425);
    assert_eq!(code(t.delete(other, "./Vendor/a").unwrap_err()), 425);
    t.delete(s, "./Vendor/a").unwrap();
    assert_eq!(code(t.get(s, "./Vendor/a").unwrap_err()), 404);
    assert_eq!(code(t.delete(s, ".").unwrap_err()), 405);
    // A leaf added directly below the root inherits the root's rights: Add and Get.
    t.add(s, "./Top", chr("x")).unwrap();
    assert_eq!(code(t.replace(s, "./Top", chr("y")).unwrap_err()), 425);
}

#[test]
fn an_interior_node_added_with_replace_rights_on_the_parent_inherits() {
    let mut t = Tree::new(UriLimits::default());
    t.put_interior("./Shared").unwrap();
    t.with_node("./Shared", |n| n.acl = Acl::parse("Add=*&Get=*&Replace=srv1").unwrap()).unwrap();
    t.add(Who::Server("srv1"), "./Shared/a", node()).unwrap();
    assert_eq!(data(&t.get(Who::Local, "./Shared/a?prop=ACL").unwrap()), "");
    t.add(Who::Server("srv2"), "./Shared/b", node()).unwrap();
    assert_eq!(data(&t.get(Who::Local, "./Shared/b?prop=ACL").unwrap()), "Add=srv2&Delete=srv2&Get=srv2&Replace=srv2");
    t.add(Who::Local, "./Local/c", node()).unwrap();
    assert_eq!(data(&t.get(Who::Local, "./Local?prop=ACL").unwrap()), "", "the device's own nodes inherit");
}

#[test]
fn who_may_change_an_acl_follows_dm_tnd() {
    let mut t = Tree::new(UriLimits::default());
    t.put_leaf("./P/I/leaf", b"v", "chr").unwrap();
    let acl = |t: &Tree, u: &str| data(&t.get(Who::Local, &format!("{u}?prop=ACL")).unwrap());
    let set = |t: &mut Tree, who: &str, u: &str, v: &str| t.replace(Who::Server(who), &format!("{u}?prop=ACL"), chr(v));
    t.with_node("./P", |n| n.acl = Acl::parse("Get=*&Replace=parent").unwrap()).unwrap();
    t.with_node("./P/I", |n| n.acl = Acl::parse("Get=*&Replace=inner").unwrap()).unwrap();
    t.with_node("./P/I/leaf", |n| n.acl = Acl::parse("Get=*&Replace=leaf").unwrap()).unwrap();
    // A leaf: Replace rights on the leaf change its value, not its ACL.
    t.replace(Who::Server("leaf"), "./P/I/leaf", chr("w")).unwrap();
    assert_eq!(code(set(&mut t, "leaf", "./P/I/leaf", "Get=*&Replace=*").unwrap_err()), 425);
    // ... the parent's Replace rights do.
    set(&mut t, "inner", "./P/I/leaf", "Get=*&Replace=inner").unwrap();
    assert_eq!(acl(&t, "./P/I/leaf"), "Get=*&Replace=inner");
    // An interior node: its own Replace rights or its parent's.
    set(&mut t, "inner", "./P/I", "Get=*&Replace=inner+friend").unwrap();
    set(&mut t, "parent", "./P/I", "Get=*&Replace=inner").unwrap();
    let e = set(&mut t, "stranger", "./P/I", "Replace=stranger").unwrap_err();
    assert!(e.to_string().contains("Replace rights on the node or on its parent"), "{e}");
    assert_eq!(code(e), 425);
    assert_eq!(acl(&t, "./P/I"), "Get=*&Replace=inner");
    // The root's ACL belongs to the device, even for a server with Replace rights.
    t.with_node(".", |n| n.acl = Acl::parse("Add=*&Get=*&Replace=boss").unwrap()).unwrap();
    assert_eq!(code(set(&mut t, "boss", ".", "Get=boss").unwrap_err()), 405);
    t.replace(Who::Local, ".?prop=ACL", chr("Add=*&Get=*")).unwrap();
    // A device-owned node: no change by any server, whatever the ACLs say.
    t.with_node("./P/I/leaf", |n| n.device_owned = true).unwrap();
    assert_eq!(code(set(&mut t, "inner", "./P/I/leaf", "Get=*").unwrap_err()), 405);
    assert_eq!(code(t.replace(Who::Server("inner"), "./P/I/leaf", chr("x")).unwrap_err()), 405);
    assert_eq!(code(t.replace(Who::Server("inner"), "./P/I/leaf?prop=Name", chr("x")).unwrap_err()), 405);
    t.replace(Who::Local, "./P/I/leaf", chr("by the device")).unwrap();
}

#[test]
fn acl_denials_name_the_server_and_return_425() {
    let mut t = Tree::new(UriLimits::default());
    t.put_leaf("./Secret/v", b"x", "chr").unwrap();
    t.with_node("./Secret", |n| n.acl = Acl::parse("Get=srv2").unwrap()).unwrap();
    let e = t.get(Who::Server("srv1"), "./Secret/v").unwrap_err();
    assert!(e.to_string().contains("srv1"));
    assert_eq!(code(e), 425);
    assert_eq!(data(&t.get(Who::Server("srv2"), "./Secret/v").unwrap()), "x");
    assert_eq!(code(t.delete(Who::Server("srv2"), "./Secret/v").unwrap_err()), 425);
    assert_eq!(data(&t.get(Who::Local, "./Secret/v").unwrap()), "x");
}

#[test]
fn properties_read_and_only_acl_name_title_replace() {
    let mut t = Tree::new(UriLimits::default());
    let s = Who::Server("srv1");
    t.add(s, "./N", node()).unwrap();
    t.add(s, "./N/leaf", chr("hello")).unwrap();
    t.with_node("./N", |n| n.acl = Acl::parse("Get=*&Replace=*").unwrap()).unwrap();
    assert_eq!(data(&t.get(s, "./N/leaf?prop=Size").unwrap()), "5");
    assert_eq!(data(&t.get(s, "./N/leaf?prop=Format").unwrap()), "chr");
    assert_eq!(data(&t.get(s, "./N/leaf?prop=Name").unwrap()), "leaf");
    assert!(data(&t.get(s, "./N/leaf?prop=TStamp").unwrap()).ends_with('Z'));
    t.replace(s, "./N/leaf?prop=Title", chr("greeting")).unwrap();
    assert_eq!(data(&t.get(s, "./N/leaf?prop=Title").unwrap()), "greeting");
    t.replace(s, "./N/leaf?prop=Name", chr("renamed")).unwrap();
    assert!(t.exists("./N/renamed") && !t.exists("./N/leaf"));
    assert_eq!(code(t.replace(s, "./N/renamed?prop=Format", chr("int")).unwrap_err()), 405);
    assert_eq!(code(t.get(s, "./N/renamed?prop=Colour").unwrap_err()), 406);
    t.replace(s, "./N?prop=ACL", chr("Get=srv9")).unwrap();
    assert_eq!(code(t.get(s, "./N/renamed").unwrap_err()), 425);
}

#[test]
fn lists_struct_structdata_and_tnds() {
    let mut t = Tree::new(UriLimits::default());
    t.put_leaf("./A/x", b"1", "int").unwrap();
    t.put_leaf("./A/B/y", b"two", "chr").unwrap();
    let s = Who::Server("srv1");
    let st = t.get(s, "./A?list=Struct").unwrap();
    let uris: Vec<_> = st.iter().map(|i| i.uri.as_str()).collect();
    assert_eq!(uris, ["./A", "./A/B", "./A/B/y", "./A/x"]);
    assert!(st.iter().all(|i| i.data.is_none()));
    let sd = t.get(s, "./A?list=StructData").unwrap();
    assert_eq!(sd[2].data, Some(Value::Inline(b"two".to_vec())));
    let tnds = data(&t.get(s, "./A?list=TNDS").unwrap());
    assert!(tnds.contains("<NodeName>y</NodeName><Path>./A/B</Path>"), "{tnds}");
    assert!(tnds.contains("<Format><int/></Format>") && tnds.contains("<Value>two</Value>"), "{tnds}");
}

#[test]
fn dynamic_leaves_are_read_live_and_not_replaceable() {
    let mut t = Tree::new(UriLimits::default());
    let v = Arc::new(std::sync::Mutex::new("1.0".to_string()));
    let v2 = v.clone();
    t.set_dynamic("./DevDetail/FwV", Arc::new(move || v2.lock().unwrap().clone())).unwrap();
    t.with_node("./DevDetail", |n| n.acl = Acl::parse("Get=*&Replace=*").unwrap()).unwrap();
    assert_eq!(data(&t.get(Who::Server("s"), "./DevDetail/FwV").unwrap()), "1.0");
    *v.lock().unwrap() = "2.0".into();
    assert_eq!(data(&t.get(Who::Server("s"), "./DevDetail/FwV").unwrap()), "2.0");
    assert_eq!(code(t.replace(Who::Server("s"), "./DevDetail/FwV", chr("x")).unwrap_err()), 405);
}

#[test]
fn secret_leaves_refuse_get_and_formats_are_checked() {
    let mut t = Tree::new(UriLimits::default());
    t.put_leaf("./Acc/Secret", b"pw", "chr").unwrap();
    t.with_node("./Acc/Secret", |n| n.secret = true).unwrap();
    assert_eq!(code(t.get(Who::Server("s"), "./Acc/Secret").unwrap_err()), 405);
    let bad = NewValue { format: Some("int".into()), type_: None, value: Value::Inline(b"abc".to_vec()) };
    assert_eq!(code(t.add(Who::Server("s"), "./Acc/n", bad).unwrap_err()), 415);
    assert_eq!(code(t.get(Who::Server("s"), "./Acc/../x").unwrap_err()), 404);
}

#[test]
fn copy_and_exec_checks() {
    let mut t = Tree::new(UriLimits::default());
    let s = Who::Server("s");
    t.add(s, "./A", chr("v")).unwrap();
    t.copy(s, "./A", "./B").unwrap();
    assert_eq!(data(&t.get(s, "./B").unwrap()), "v");
    assert_eq!(code(t.check_exec(s, "./A").unwrap_err()), 425);
    assert_eq!(code(t.check_exec(s, "./Z").unwrap_err()), 404);
}

#[test]
fn persists_atomically_and_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = Tree::open(dir.path(), UriLimits::default()).unwrap();
    t.put_leaf("./A/x", b"1", "int").unwrap();
    t.save().unwrap();
    let t2 = Tree::open(dir.path(), UriLimits::default()).unwrap();
    assert_eq!(t2.leaf_text("./A/x").as_deref(), Some("1"));
    std::fs::write(dir.path().join(TREE_FILE), b"{garbage").unwrap();
    assert!(Tree::open(dir.path(), UriLimits::default()).is_err());
}

#[test]
fn snapshot_restore_rolls_back() {
    let mut t = Tree::new(UriLimits::default());
    let snap = t.snapshot();
    t.add(Who::Server("s"), "./A", chr("v")).unwrap();
    t.restore(snap);
    assert!(!t.exists("./A"));
}

#[test]
fn rollback_restores_nodes_and_dynamic_leaves_and_deletes_files_set_since() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (dir.path().join("old"), dir.path().join("new"));
    std::fs::write(&old, b"old object").unwrap();
    std::fs::write(&new, b"new object").unwrap();
    let file = |p: &Path| NewValue {
        format: Some("bin".into()),
        type_: None,
        value: Value::File { path: p.to_path_buf(), size: 10 },
    };
    let mut t = Tree::new(UriLimits::default());
    t.add(Who::Local, "./Blob", file(&old)).unwrap();
    t.set_dynamic("./Live", Arc::new(|| "live".to_string())).unwrap();
    let cp = t.checkpoint();
    t.replace(Who::Local, "./Blob", file(&new)).unwrap();
    t.delete(Who::Local, "./Live").unwrap();
    t.add(Who::Local, "./A", chr("v")).unwrap();
    t.rollback(cp);
    assert!(!t.exists("./A"));
    assert_eq!(t.leaf_text("./Live").as_deref(), Some("live"), "served by code again");
    let Some(Value::File { path, .. }) = &t.get(Who::Local, "./Blob").unwrap()[0].data else { panic!() };
    assert_eq!(path, &old);
    assert!(old.exists(), "the file the restored tree points to stays");
    assert!(!new.exists(), "the object stored inside the Atomic is gone");
}
