#!/usr/bin/env python3
"""The checks of scripts/check-layers that read bitbake's output and lay out disks.

usage: check-layers.py recipe-env ENV_DIR FOTAD_UPDATE  the recipes as bitbake -e shows them
       check-layers.py wks ENV_DIR                  the .wks.in layouts, with sgdisk
       check-layers.py uboot                       boot.scr in real U-Boot under QEMU
       check-layers.py buildroot                   the package under make, the board's disk with genimage

ENV_DIR holds `bitbake -e RECIPE` of each recipe as env.RECIPE (parse-layer's stdout,
split). Every check prints what it checked; the first failure ends the run (exit 1).
"""
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYER = ROOT / "yocto/meta-fotad"
BR = ROOT / "buildroot"
GRUB_CFG = LAYER / "recipes-bsp/grub/files/grub.cfg"
ESP_TYPE = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
LINUX_TYPE = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
MIB = 1 << 20


class CheckError(Exception):
    pass


def check(cond, what):
    if not cond:
        raise CheckError(what)


def ok(what):
    print(f"  ok: {what}")


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise CheckError(f"{shlex.join(map(str, cmd))} failed ({r.returncode}):\n{r.stdout}{r.stderr}")
    return r.stdout


# ---- bitbake -e output ------------------------------------------------------------

class Env:
    """Variables and shell functions of one `bitbake -e RECIPE` dump."""

    def __init__(self, path: Path):
        self.vars, self.funcs, self.exported = {}, {}, set()
        self.text = path.read_text()
        lines = self.text.splitlines()
        i = 0
        while i < len(lines):
            line = lines[i]
            m = re.match(r'^(export )?([A-Za-z0-9_:\-\.\$\{\}\[\]/+~]+)="(.*)$', line)
            f = re.match(r"^([A-Za-z0-9_\-\.:]+)\(\) \{$", line)
            if m:
                value, j = m.group(3), i
                while not value.endswith('"') or value.endswith('\\"'):
                    j += 1
                    value += "\n" + lines[j]
                self.vars[m.group(2)] = value[:-1].replace('\\"', '"').replace("\\$", "$")
                if m.group(1):
                    self.exported.add(m.group(2))
                i = j + 1
                continue
            if f:
                body, j = [], i + 1
                while lines[j] != "}":
                    body.append(lines[j])
                    j += 1
                self.funcs[f.group(1)] = "\n".join(body)
                i = j + 1
                continue
            i += 1

    def get(self, name):
        check(name in self.vars, f"bitbake -e shows no {name}")
        return self.vars[name]

    def words(self, name):
        return self.vars.get(name, "").split()


def cargo_lock_crates():
    with (ROOT / "Cargo.lock").open("rb") as f:
        lock = tomllib.load(f)
    return {(p["name"], p["version"]): p["checksum"] for p in lock["package"] if "checksum" in p}


def check_crates(env: Env, recipe: str):
    crates = cargo_lock_crates()
    uris = [u for u in env.words("SRC_URI") if u.startswith("crate://")]
    listed = {tuple(u[len("crate://crates.io/"):].split("/")) for u in uris}
    check(len(uris) == len(listed), f"{recipe}: duplicate crate:// entries in SRC_URI")
    check(listed == set(crates), f"{recipe}: SRC_URI crates differ from Cargo.lock: "
          f"missing {sorted(set(crates) - listed)[:5]}, extra {sorted(listed - set(crates))[:5]}")
    # bitbake -e shows the SRC_URI flags in the variable's history comments.
    sums = dict(re.findall(r'^#\s+\[(\S+)\.sha256sum\] "([0-9a-f]{64})"$', env.text, re.M))
    for (name, version), checksum in crates.items():
        check(sums.get(f"{name}-{version}") == checksum, f"{recipe}: sha256 of {name} {version}")
    ok(f"{recipe}: SRC_URI has the {len(crates)} crates of Cargo.lock, each with its sha256")


def check_common(env: Env, recipe: str):
    check_crates(env, recipe)
    lic = env.get("LIC_FILES_CHKSUM")
    md5 = hashlib.md5((ROOT / "LICENSE").read_bytes()).hexdigest()
    check(lic == f"file://LICENSE;md5={md5}", f"{recipe}: LIC_FILES_CHKSUM {lic!r}, LICENSE has md5 {md5}")
    check(Path(env.get("S")) == ROOT, f"{recipe}: S is {env.get('S')}, not the fotad tree {ROOT}")
    check(env.vars.get("CARGO_PROFILE_RELEASE_STRIP") == "false"
          and "CARGO_PROFILE_RELEASE_STRIP" in env.exported,
          f"{recipe}: CARGO_PROFILE_RELEASE_STRIP is not exported as false")
    check(env.vars.get("ZSTD_SYS_USE_PKG_CONFIG") == "1" and "ZSTD_SYS_USE_PKG_CONFIG" in env.exported,
          f"{recipe}: ZSTD_SYS_USE_PKG_CONFIG=1 is not exported")
    check("--frozen" in env.words("CARGO_BUILD_FLAGS"), f"{recipe}: cargo does not build --frozen")
    ok(f"{recipe}: LICENSE checksum, source tree, CARGO_PROFILE_RELEASE_STRIP=false, "
       "ZSTD_SYS_USE_PKG_CONFIG=1, --frozen")


def install_from_env(env: Env, recipe: str, binaries, tmp: Path) -> Path:
    """Runs the recipe's do_install as bitbake expanded it, with WORKDIR moved to tmp
    and stand-in binaries where cargo would have built them; returns ${D}."""
    workdir = env.get("WORKDIR")
    body = env.funcs.get("do_install")
    check(body is not None, f"{recipe}: no do_install in bitbake -e")
    body = body.replace(workdir, str(tmp / "work"))
    sub = env.get("CARGO_TARGET_SUBDIR")
    release = Path(env.get("B").replace(workdir, str(tmp / "work"))) / "target" / sub
    release.mkdir(parents=True)
    for b in binaries:
        (release / b).write_text("#!/bin/sh\nexit 0\n")
        (release / b).chmod(0o755)
    unpack = Path(env.get("UNPACKDIR").replace(workdir, str(tmp / "work")))
    unpack.mkdir(parents=True, exist_ok=True)
    for f in (LAYER / "recipes-core/fotad/files").iterdir():
        shutil.copy(f, unpack / f.name)
    d = Path(env.get("D").replace(workdir, str(tmp / "work")))
    d.mkdir(parents=True)
    script = tmp / f"do_install.{recipe}.sh"
    script.write_text("set -e\n" + body + "\n")
    run(["bash", script])
    return d


def package_of(env: Env, rel: str):
    """The first package in PACKAGES whose FILES pattern takes /rel (do_package's rule)."""
    import fnmatch
    for pkg in env.words("PACKAGES"):
        for pat in env.words(f"FILES:{pkg}"):
            if fnmatch.fnmatch(rel, pat) or rel.startswith(pat.rstrip("/") + "/"):
                return pkg
    return None


def check_fotad(env: Env, tmp: Path):
    check_common(env, "fotad")
    for cls in ("cargo", "cargo-update-recipe-crates", "systemd", "useradd"):
        check(f"/classes-recipe/{cls}.bbclass" in env.vars.get("BBINCLUDED", "")
              or f"{cls}.bbclass" in env.vars.get("BBINCLUDED", ""), f"fotad does not inherit {cls}")
    ok("fotad inherits cargo, cargo-update-recipe-crates, systemd, useradd")
    flags = env.words("CARGO_BUILD_FLAGS")
    check(" ".join(flags).endswith("--package fotad --package fotad-updater"),
          f"fotad: cargo builds {flags}, not the agent and the updater only")
    packages = env.words("PACKAGES")
    for p in ("fotad-update", "fotad", "fotad-dev"):
        check(p in packages, f"fotad: no package {p} in {packages}")
    check(packages.index("fotad-update") < packages.index("fotad"), "fotad-update must come before fotad")
    check("fotad-update" in env.words("RDEPENDS:fotad"), "fotad does not depend on fotad-update")
    for dep in ("pcsc-lite", "zstd", "bzip2"):
        check(dep in env.words("DEPENDS"), f"fotad: {dep} not in DEPENDS")
    check("dbus" in env.words("RDEPENDS:fotad") and "pcsc-lite" in env.words("RDEPENDS:fotad"),
          f"fotad: PACKAGECONFIG dbus sim do not pull in dbus and pcsc-lite: {env.words('RDEPENDS:fotad')}")
    check("ccid" in env.words("RRECOMMENDS:fotad"), "fotad: PACKAGECONFIG sim does not recommend ccid")
    check(env.words("SYSTEMD_SERVICE:fotad") == ["fotad.service"], "fotad: SYSTEMD_SERVICE:fotad")
    check(env.words("SYSTEMD_SERVICE:fotad-update") == ["fotad-mark-good.service"],
          "fotad: SYSTEMD_SERVICE:fotad-update")
    check(sorted(env.words("SYSTEMD_PACKAGES")) == ["fotad", "fotad-update"], "fotad: SYSTEMD_PACKAGES")
    check("fotad-ui" in env.vars.get("GROUPADD_PARAM:fotad", ""), "fotad: no fotad-ui group")
    ok("fotad: packages fotad-update < fotad, fotad-dev; DEPENDS, RDEPENDS (dbus, pcsc-lite), "
       "RRECOMMENDS ccid, SYSTEMD_SERVICE per package, group fotad-ui")

    d = install_from_env(env, "fotad", ["fotad", "fotactl", "fotad-update"], tmp)
    files = sorted("/" + str(p.relative_to(d)) for p in d.rglob("*") if p.is_file() or p.is_symlink())
    want = {
        "/usr/bin/fotad-update": "fotad-update",
        "/usr/lib/systemd/system/fotad-mark-good.service": "fotad-update",
        "/usr/lib/fotad/conf.d/10-fotad.toml": "fotad-update",
        "/usr/lib/tmpfiles.d/fotad.conf": "fotad-update",
        "/usr/lib/tmpfiles.d/fotad-state.conf": "fotad-update",
        "/usr/bin/fotad": "fotad",
        "/usr/bin/fotactl": "fotad",
        "/usr/lib/systemd/system/fotad.service": "fotad",
        "/usr/lib/systemd/system/fotad.service.d/10-state-dir.conf": "fotad",
        "/usr/share/dbus-1/system.d/org.fotad.Agent1.conf": "fotad",
        "/usr/lib/sysusers.d/fotad.conf": "fotad",
        "/usr/share/dbus-1/interfaces/org.fotad.Agent1.xml": "fotad-dev",
        "/usr/share/doc/fotad/dbus.md": "fotad-doc",
    }
    check(files == sorted(want), f"fotad: do_install installed {files}, expected {sorted(want)}")
    for f, pkg in want.items():
        got = package_of(env, f)
        check(got == pkg, f"fotad: {f} lands in package {got}, not {pkg}")
    check((d / "etc/fotad/keys").is_dir(), "fotad: /etc/fotad/keys is not created")
    ok(f"fotad: do_install installs {len(files)} files, each in its package: "
       + ", ".join(f"{f} ({p})" for f, p in want.items()))

    same = {
        "usr/lib/systemd/system/fotad.service": "systemd/fotad.service",
        "usr/lib/systemd/system/fotad-mark-good.service": "systemd/fotad-mark-good.service",
        "usr/lib/tmpfiles.d/fotad.conf": "systemd/fotad.tmpfiles.conf",
        "usr/lib/sysusers.d/fotad.conf": "systemd/fotad.sysusers.conf",
        "usr/share/dbus-1/system.d/org.fotad.Agent1.conf": "dbus/org.fotad.Agent1.conf",
        "usr/share/dbus-1/interfaces/org.fotad.Agent1.xml": "dbus/org.fotad.Agent1.xml",
    }
    for installed, source in same.items():
        check((d / installed).read_bytes() == (ROOT / source).read_bytes(), f"fotad: /{installed} is not {source}")
    ok("fotad: the installed units, tmpfiles, sysusers, bus policy and interface are the files of systemd/ and dbus/")

    conf_text = (d / "usr/lib/fotad/conf.d/10-fotad.toml").read_text()
    check(not re.search(r"@FOTAD_[A-Z_]+@", conf_text), "fotad: 10-fotad.toml has unfilled @FOTAD_...@ values")
    conf = tomllib.loads(conf_text)
    expect = {
        ("updater", "compatible"): env.get("FOTAD_COMPATIBLE"),
        ("updater", "state_dir"): env.get("FOTAD_STATE_DIR"),
        ("bootloader", "backend"): env.get("FOTAD_BOOTLOADER"),
        ("bootloader", "grubenv"): env.get("FOTAD_GRUBENV"),
        ("slots", "gpt_disk"): env.get("FOTAD_GPT_DISK"),
    }
    for (sec, key), value in expect.items():
        check(conf[sec][key] == value, f"fotad: 10-fotad.toml [{sec}] {key} = {conf[sec][key]!r}, not {value!r}")
    check(env.get("FOTAD_COMPATIBLE") == "qemux86-64" and env.get("FOTAD_STATE_DIR") == "/data/fotad",
          "fotad: FOTAD_COMPATIBLE / FOTAD_STATE_DIR defaults")
    ok(f"fotad: 10-fotad.toml is TOML with {', '.join(f'[{s}] {k} = {v!r}' for (s, k), v in expect.items())}")

    # The units as installed (with the stand-in binaries where ExecStart points),
    # beside the host's own units (the targets and dbus.service they name).
    root = tmp / "verify-root"
    shutil.copytree(d, root, symlinks=True)
    units = root / "usr/lib/systemd/system"
    for host_unit in Path("/usr/lib/systemd/system").iterdir():
        if host_unit.is_file() and not (units / host_unit.name).exists():
            shutil.copy(host_unit, units / host_unit.name)
    for unit in ("fotad.service", "fotad-mark-good.service"):
        r = subprocess.run(["systemd-analyze", "verify", "--man=no", f"--root={root}", unit],
                           capture_output=True, text=True)
        ours = [line for line in r.stderr.splitlines() if "fotad" in line]
        check(r.returncode == 0 and not ours, f"systemd-analyze verify {unit}: {r.stderr}")
        print(f"  ok: systemd-analyze verify --root=D {unit}: exit 0, no message about fotad"
              + (f" (other output: {r.stderr.strip()!r})" if r.stderr.strip() else ""))
    dropin = (d / "usr/lib/systemd/system/fotad.service.d/10-state-dir.conf").read_text()
    check("ReadWritePaths=/data/fotad" in dropin and "RequiresMountsFor=/data/fotad" in dropin,
          f"fotad: the state-dir drop-in: {dropin}")
    ok("fotad: fotad.service.d/10-state-dir.conf lets the sandbox write /data/fotad")
    out = run(["systemd-tmpfiles", "--create", f"--root={d}",
               str(d / "usr/lib/tmpfiles.d/fotad.conf"), str(d / "usr/lib/tmpfiles.d/fotad-state.conf")])
    check(oct((d / "data/fotad").stat().st_mode & 0o777) == "0o700", "fotad: /data/fotad is not 0700")
    ok("fotad: systemd-tmpfiles --create makes /var/lib/fotad, /run/fotad and /data/fotad (0700)" + out)


def check_native(env: Env, tmp: Path):
    check_common(env, "fotad-update-native")
    check(env.words("CARGO_BUILD_FLAGS")[-2:] == ["--package", "fotad-updater"],
          "fotad-update-native: cargo does not build the updater alone")
    check(set(env.words("DEPENDS")) >= {"zstd-native", "bzip2-native"}, "fotad-update-native: DEPENDS")
    d = install_from_env(env, "fotad-update-native", ["fotad-update"], tmp)
    files = sorted(str(p.relative_to(d)) for p in d.rglob("*") if p.is_file())
    bindir = env.get("bindir").replace(env.get("WORKDIR"), str(tmp / "work")).lstrip("/")
    check(files == [f"{bindir}/fotad-update"], f"fotad-update-native installs {files}, not {bindir}/fotad-update")
    ok(f"fotad-update-native: builds --package fotad-updater, installs ${{bindir}}/fotad-update ({env.get('bindir')})")


def check_bsp(envs: dict, tmp: Path, fotad_update: str):
    grub = envs["fotad-grub-cfg"]
    work = tmp / "grub"
    b = Path(grub.get("B").replace(grub.get("WORKDIR"), str(work)))
    b.mkdir(parents=True)
    body = grub.funcs["do_compile"].replace(grub.get("WORKDIR"), str(work))
    run(["bash", "-ec", body])
    listing = run(["grub-editenv", str(b / "grubenv"), "list"])
    check(listing.split() == ["ORDER=A", "B", "A_OK=1", "A_TRY=0", "B_OK=0", "B_TRY=0"],
          f"fotad-grub-cfg: initial grubenv {listing!r}")
    check((b / "grubenv").stat().st_size == 1024, "fotad-grub-cfg: grubenv is not 1024 bytes")
    ok(f"fotad-grub-cfg: do_compile makes a 1024-byte grubenv; grub-editenv list: {' '.join(listing.split())}")
    status = json.loads(run([fotad_update, "--config-root", str(write_grub_config(tmp, b / "grubenv")),
                             "status", "--json"]))
    states = {s["slot"]: s["state"]["state"] for s in status["slots"]}
    check(status["bootloader"] == "grub" and status["primary"] == "A" and states == {"A": "good", "B": "bad"},
          f"fotad-update status on the initial grubenv: {status}")
    ok("fotad-update status reads the initial grubenv: bootloader grub, primary A, A good, B bad")

    uboot = envs["fotad-uboot-script"]
    work = tmp / "uboot"
    wd = uboot.get("WORKDIR")
    b = Path(uboot.get("B").replace(wd, str(work)))
    b.mkdir(parents=True)
    s = Path(uboot.get("S").replace(wd, str(work)))
    s.mkdir(parents=True, exist_ok=True)
    shutil.copy(LAYER / "recipes-bsp/u-boot/files/boot.cmd", s / "boot.cmd")
    bindir = tmp / "bin"
    bindir.mkdir(exist_ok=True)
    (bindir / "uboot-mkimage").symlink_to(shutil.which("mkimage"))
    body = uboot.funcs["do_compile"].replace(wd, str(work))
    run(["bash", "-ec", body], env={**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}"})
    info = run(["mkimage", "-l", str(b / "boot.scr")])
    check("Script" in info, f"fotad-uboot-script: boot.scr is not a script image: {info}")
    data = (b / "boot.scr").read_bytes()
    check((LAYER / "recipes-bsp/u-boot/files/boot.cmd").read_bytes() in data, "boot.scr does not hold boot.cmd")
    kind = re.search(r"Image Type:\s*(.*)", info).group(1).strip()
    ok(f"fotad-uboot-script: do_compile runs mkimage: boot.scr is an {kind!r} image holding boot.cmd")


def write_grub_config(tmp: Path, grubenv: Path) -> Path:
    root = tmp / "status-root"
    (root / "etc/fotad").mkdir(parents=True)
    disk = tmp / "status-disk.img"
    with disk.open("wb") as f:
        f.truncate(64 * MIB)
    run(["sgdisk", "-n", "1:2048:+16M", "-c", "1:rootfs_a", "-n", "2:0:+16M", "-c", "2:rootfs_b", str(disk)])
    (root / "etc/fotad/fotad.toml").write_text(
        f'[updater]\ncompatible = "qemux86-64"\nstate_dir = "{tmp}/state"\ncmdline = "{tmp}/cmdline"\n'
        f'[bootloader]\nbackend = "grub"\ngrubenv = "{grubenv}"\n[slots]\ngpt_disk = "{disk}"\n')
    (tmp / "cmdline").write_text("root=PARTLABEL=rootfs_a fotad.slot=A ro\n")
    return root


def check_image(env: Env, tmp: Path, fotad_update: str):
    check("fota" in env.words("IMAGE_FSTYPES"), "fotad-image: no fota in IMAGE_FSTYPES")
    check(env.words("IMAGE_TYPEDEP:fota") == ["ext4"], "fotad-image: IMAGE_TYPEDEP:fota")
    check("ext4" in env.words("IMAGE_TYPEDEP:wic"), "fotad-image: the wic image does not wait for the ext4")
    check(env.get("WKS_TEMPLATE_PATH") == str(LAYER / "wic/fotad-ab-efi.wks.in"),
          f"fotad-image: wic does not find fotad-ab-efi.wks.in: WKS_TEMPLATE_PATH {env.vars.get('WKS_TEMPLATE_PATH')!r}")
    check("fotad-grubenv;EFI/BOOT/grubenv" in env.get("IMAGE_EFI_BOOT_FILES"), "fotad-image: grubenv not on the ESP")
    check("read-only-rootfs" in env.words("IMAGE_FEATURES"), "fotad-image: the rootfs is not read-only")
    ok("fotad-image: IMAGE_FSTYPES has fota (after ext4), wic after ext4 with wic/fotad-ab-efi.wks.in, "
       "grubenv on the ESP, read-only rootfs")

    # The class's IMAGE_CMD:fota, as inlined into do_image_fota, on a small ext4
    # image and a previous one, packed by the real fotad-update.
    body = env.funcs.get("do_image_fota")
    check(body is not None, "fotad-image: no do_image_fota")
    wd = env.get("WORKDIR")
    work = tmp / "image"
    imgdeploy = Path(env.get("IMGDEPLOYDIR").replace(wd, str(work)))
    imgdeploy.mkdir(parents=True)
    name = env.get("IMAGE_NAME")
    check("${" not in name, f"IMAGE_NAME {name}")
    keys = tmp / "keys"
    keys.mkdir()
    run([fotad_update, "keygen", str(keys / "release")])
    old, new = tmp / "old.ext4", imgdeploy / f"{name}.ext4"
    for img, content in ((old, "v1"), (new, "v2")):
        src = tmp / f"rootfs-{content}"
        (src / "etc").mkdir(parents=True)
        (src / "etc/version").write_text(content * 100)
        run(["mkfs.ext4", "-q", "-F", "-d", str(src), "-E", "root_owner=0:0", "-U", "clear", "-T", "default",
             str(img), "2M"])
    body = body.replace(wd, str(work))
    body = re.sub(r'key="[^"]*"', f'key="{keys}/release.key"', body, count=1)
    body = re.sub(r'source="[^"]*"', f'source="{old}"', body, count=1)
    bindir = tmp / "bin"
    bindir.mkdir(exist_ok=True)
    if not (bindir / "fotad-update").exists():
        (bindir / "fotad-update").symlink_to(fotad_update)
    script = tmp / "do_image_fota.sh"
    script.write_text("set -e\nbbfatal() { echo \"bbfatal: $*\" >&2; exit 1; }\n" + body + "\n")
    run(["bash", script], env={**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}"}, cwd=imgdeploy)
    full, delta = imgdeploy / f"{name}.fota", imgdeploy / f"{name}.delta.fota"
    link = imgdeploy / f"{env.get('IMAGE_LINK_NAME')}.delta.fota"
    check(full.is_file() and delta.is_file() and link.resolve() == delta.resolve(),
          f"do_image_fota wrote {sorted(p.name for p in imgdeploy.iterdir())}")
    new_sha = hashlib.sha256(new.read_bytes()).hexdigest()
    old_sha = hashlib.sha256(old.read_bytes()).hexdigest()
    for pkg, source in ((full, None), (delta, old_sha)):
        info = json.loads(run([fotad_update, "inspect", str(pkg), "--json"]))
        image = info["images"][0]
        check(info["compatible"] == env.get("FOTAD_COMPATIBLE") and info["version"] == env.get("FOTAD_BUNDLE_VERSION")
              and info["security_version"] == int(env.get("FOTAD_SECURITY_VERSION")), f"{pkg.name}: {info}")
        check(image["class"] == "rootfs" and image["target"]["sha256"] == new_sha
              and (image.get("source") or {}).get("sha256") == source,
              f"{pkg.name}: rootfs target/source {image.get('target')} {image.get('source')}")
    ok(f"fotad_bundle: do_image_fota packs {full.name} (full) and {delta.name} (delta, linked as {link.name}); "
       f"fotad-update inspect: compatible {env.get('FOTAD_COMPATIBLE')!r}, version {env.get('FOTAD_BUNDLE_VERSION')!r}, "
       "rootfs = the image's .ext4, the delta's source = the previous .ext4")
    # Installed on a device whose slot A is the old image: the delta applies.
    dev = tmp / "device"
    (dev / "etc/fotad/keys").mkdir(parents=True)
    shutil.copy(keys / "release.pub", dev / "etc/fotad/keys/release.pub")
    slot_b = tmp / "slot_b.img"
    with slot_b.open("wb") as f:
        f.truncate(16 * MIB)
    run([fotad_update, "--config-root", str(dev), "install", str(delta), "--compatible", env.get("FOTAD_COMPATIBLE"),
         "--keys", str(dev / "etc/fotad/keys"), "--state-dir", str(tmp / "install-state"),
         "--target", f"rootfs={slot_b}", "--source", f"rootfs={old}"])
    check(slot_b.read_bytes()[:new.stat().st_size] == new.read_bytes(), "the delta did not produce the new image")
    ok("the delta package installs into a slot image: the slot then holds the new .ext4 byte for byte")


# ---- disk layouts --------------------------------------------------------------------

def size_mib(text: str) -> int:
    m = re.fullmatch(r"(\d+)([KMG]?)", text)
    check(m is not None, f"size {text!r}")
    n, unit = int(m.group(1)), m.group(2) or "M"
    return {"K": n // 1024, "M": n, "G": n * 1024}[unit]


def parse_wks(text: str):
    parts, bootloader = [], None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        words = shlex.split(line)
        opts, pos = {}, []
        i = 1
        while i < len(words):
            w = words[i]
            if w.startswith("--"):
                key, _, value = w[2:].partition("=")
                if not value and key not in ("active", "no-fstab-update", "use-uuid"):
                    i += 1
                    value = words[i]
                opts[key] = value
            else:
                pos.append(w)
            i += 1
        if words[0] == "bootloader":
            bootloader = opts
        else:
            check(words[0] == "part", f"unknown wks line {line!r}")
            opts["mountpoint"] = pos[0] if pos else None
            parts.append(opts)
    return bootloader, parts


def lay_out(parts, disk: Path):
    """The partitions in order, each at its --align (KiB), sized by --size or --fixed-size."""
    end_mib = sum(size_mib(p.get("fixed-size") or p["size"]) for p in parts) + 8 * len(parts) + 2
    with disk.open("wb") as f:
        f.truncate(end_mib * MIB)
    cmd, offset = ["sgdisk", "-o"], 0
    for n, p in enumerate(parts, 1):
        align = int(p.get("align", "1")) * 1024
        start = max(offset, 34 * 512)
        start = (start + align - 1) // align * align
        size = size_mib(p.get("fixed-size") or p["size"]) * MIB
        cmd += ["-n", f"{n}:{start // 512}:{(start + size) // 512 - 1}", "-c", f"{n}:{p['part-name']}",
                "-t", f"{n}:{p.get('part-type', LINUX_TYPE)}"]
        offset = start + size
    run(cmd + [str(disk)])


def read_back(disk: Path):
    """(number, name, type GUID, first sector, size in sectors) of each partition, per sgdisk."""
    out = run(["sgdisk", "-p", str(disk)])
    rows = []
    for line in out.splitlines():
        m = re.match(r"^\s+(\d+)\s+(\d+)\s+(\d+)\s+.*?\s+\S+\s+(\S+)$", line)
        if m:
            n = int(m.group(1))
            info = run(["sgdisk", "-i", str(n), str(disk)])
            guid = re.search(r"Partition GUID code: (\S+)", info).group(1)
            name = re.search(r"Partition name: '(.*)'", info).group(1)
            rows.append((n, name, guid, int(m.group(2)), int(m.group(3)) - int(m.group(2)) + 1))
    verify = run(["sgdisk", "-v", str(disk)])
    check("No problems found" in verify, f"sgdisk -v {disk}: {verify}")
    return rows


def check_table(rows, first: str, first_type: str, slot_mib: int, align_kib: int, what: str):
    names = [r[1] for r in rows]
    check(names == [first, "rootfs_a", "rootfs_b", "data"], f"{what}: partitions {names}")
    check([r[0] for r in rows] == [1, 2, 3, 4], f"{what}: numbers {[r[0] for r in rows]}")
    check(rows[0][2].upper() == first_type, f"{what}: partition 1 type {rows[0][2]}")
    for r in rows[1:]:
        check(r[2].upper() == LINUX_TYPE, f"{what}: {r[1]} type {r[2]}")
    check(rows[1][4] == rows[2][4] == slot_mib * MIB // 512, f"{what}: slot sizes {rows[1][4]}, {rows[2][4]} sectors")
    for r in rows:
        check(r[3] * 512 % (align_kib * 1024) == 0, f"{what}: {r[1]} starts at sector {r[3]}, not {align_kib} KiB aligned")
    table = "; ".join(f"{n} {name} {guid[:8]} @{start * 512 // MIB}MiB {size * 512 // MIB}MiB"
                      for n, name, guid, start, size in rows)
    ok(f"{what}: sgdisk reads back {table}")


def check_wks(envdir: Path, tmp: Path):
    env = Env(envdir / "env.fotad-image")
    variables = {v: env.get(v) for v in ("FOTAD_WIC_BOOTIMG_EFI", "FOTAD_WIC_BOOTIMG_PARTITION", "FOTAD_SLOT_SIZE",
                                         "FOTAD_DATA_SIZE", "FOTAD_ESP_SIZE", "FOTAD_BOOT_SIZE", "DEPLOY_DIR_IMAGE",
                                         "IMGDEPLOYDIR", "IMAGE_LINK_NAME")}
    check(variables["FOTAD_WIC_BOOTIMG_EFI"] == "bootimg_efi"
          and variables["FOTAD_WIC_BOOTIMG_PARTITION"] == "bootimg_partition",
          f"wic plugins on this oe-core: {variables['FOTAD_WIC_BOOTIMG_EFI']}, {variables['FOTAD_WIC_BOOTIMG_PARTITION']}")
    for name, first, first_type, align in (("fotad-ab-efi", "esp", ESP_TYPE, 1024),
                                           ("fotad-ab-uboot", "boot", "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7", 4096)):
        text = (LAYER / f"wic/{name}.wks.in").read_text()
        used = set(re.findall(r"\$\{([A-Z_]+)\}", text))
        check(used <= set(variables), f"{name}.wks.in uses {used - set(variables)}")
        for v in used:
            text = text.replace("${%s}" % v, variables[v])
        bootloader, parts = parse_wks(text)
        check(bootloader.get("ptable") == "gpt", f"{name}: not GPT")
        check(parts[1]["source"] == "rawcopy"
              and parts[1]["sourceparams"] == f"file={variables['IMGDEPLOYDIR']}/{variables['IMAGE_LINK_NAME']}.ext4",
              f"{name}: rootfs_a is not the image's .ext4: {parts[1]}")
        check("source" not in parts[2], f"{name}: rootfs_b is not empty")
        if name == "fotad-ab-efi":
            check(parts[0]["source"] == "bootimg_efi" and parts[0]["sourceparams"] == "loader=grub-efi",
                  f"{name}: ESP {parts[0]}")
            check(bootloader.get("configfile") == f"{variables['DEPLOY_DIR_IMAGE']}/fotad-grub.cfg",
                  f"{name}: GRUB config {bootloader.get('configfile')}")
        else:
            check(parts[0]["source"] == "bootimg_partition", f"{name}: boot {parts[0]}")
        disk = tmp / f"{name}.img"
        lay_out(parts, disk)
        check_table(read_back(disk), first, first_type, size_mib(variables["FOTAD_SLOT_SIZE"]), align, f"{name}.wks.in")
        disk.unlink()


def check_genimage(work: Path):
    """Runs the board's post-build.sh and post-image.sh (with the real genimage behind a
    stand-in for Buildroot's support/scripts/genimage.sh) and reads the disk back."""
    board = BR / "board/qemu-x86_64"
    target = work / "target"
    (target / "etc").mkdir(parents=True)
    (target / "boot").mkdir()
    (target / "etc/fstab").write_text("/dev/root / auto ro 0 1\n")
    (target / "boot/bzImage").write_text("kernel")
    for _ in range(2):
        run([board / "post-build.sh"], env={**os.environ, "TARGET_DIR": str(target)})
    fstab = (target / "etc/fstab").read_text().splitlines()
    check(fstab == ["/dev/root / auto ro 0 1", "PARTLABEL=esp /boot/efi vfat umask=0077 0 2",
                    "PARTLABEL=data /data ext4 defaults 0 2"], f"post-build.sh fstab: {fstab}")
    check(os.readlink(target / "boot/vmlinuz") == "bzImage", "post-build.sh: /boot/vmlinuz")
    check((target / "boot/efi").is_dir() and (target / "data").is_dir(), "post-build.sh: mount points")
    ok("post-build.sh (run twice): fstab mounts /boot/efi and /data once each, /boot/vmlinuz -> bzImage")

    images = work / "images"
    efi = images / "efi-part/EFI/BOOT"
    efi.mkdir(parents=True)
    (efi / "bootx64.efi").write_bytes(b"MZ stand-in for GRUB")
    (efi / "grub.cfg").write_text("# Buildroot's default grub.cfg\n")
    run(["mkfs.ext4", "-q", "-F", "-L", "rootfs", str(images / "rootfs.ext4"), "32M"])
    host = work / "host/bin"
    host.mkdir(parents=True)
    (host / "grub-editenv").symlink_to(shutil.which("grub-editenv"))
    top = work / "buildroot"
    (top / "support/scripts").mkdir(parents=True)
    # What Buildroot's genimage.sh does: genimage with an empty root path, input and
    # output in BINARIES_DIR.
    (top / "support/scripts/genimage.sh").write_text(
        '#!/bin/sh\nset -e\n[ "$1" = -c ] || exit 2\nroot=$(mktemp -d)\ntmp=$(mktemp -d)\n'
        'genimage --rootpath "$root" --tmppath "$tmp/genimage" --inputpath "$BINARIES_DIR" '
        '--outputpath "$BINARIES_DIR" --config "$2"\nrm -rf "$root" "$tmp"\n')
    os.chmod(top / "support/scripts/genimage.sh", 0o755)
    env = {**os.environ, "BINARIES_DIR": str(images), "HOST_DIR": str(work / "host"),
           "BR2_EXTERNAL_FOTAD_PATH": str(BR), "TARGET_DIR": str(target)}
    run([board / "post-image.sh", str(images)], env=env, cwd=top)
    disk = images / "disk.img"
    check_table(read_back(disk), "esp", ESP_TYPE, 1024, 1024, "buildroot genimage.cfg")
    esp = run(["sgdisk", "-i", "1", str(disk)])
    start = int(re.search(r"First sector: (\d+)", esp).group(1)) * 512
    for name, want in (("grub.cfg", GRUB_CFG.read_bytes()), ("bootx64.efi", b"MZ stand-in for GRUB")):
        got = work / f"esp-{name}"
        run(["mcopy", "-n", "-i", f"{disk}@@{start}", f"::EFI/BOOT/{name}", str(got)])
        check(got.read_bytes() == want, f"ESP EFI/BOOT/{name} differs")
    run(["mcopy", "-n", "-i", f"{disk}@@{start}", "::EFI/BOOT/grubenv", str(work / "esp-grubenv")])
    listing = run(["grub-editenv", str(work / "esp-grubenv"), "list"]).split()
    check(listing == ["ORDER=A", "B", "A_OK=1", "A_TRY=0", "B_OK=0", "B_TRY=0"], f"ESP grubenv: {listing}")
    ok("post-image.sh: the ESP holds EFI/BOOT/grub.cfg = yocto/meta-fotad/recipes-bsp/grub/files/grub.cfg, "
       "bootx64.efi and grubenv (" + " ".join(listing) + ")")
    a = run(["sgdisk", "-i", "2", str(disk)])
    a_start = int(re.search(r"First sector: (\d+)", a).group(1)) * 512
    rootfs = (images / "rootfs.ext4").read_bytes()
    with disk.open("rb") as f:
        f.seek(a_start)
        check(f.read(len(rootfs)) == rootfs, "rootfs_a does not hold rootfs.ext4")
    data = run(["sgdisk", "-i", "4", str(disk)])
    d_start = int(re.search(r"First sector: (\d+)", data).group(1)) * 512
    label = run(["blkid", "-p", "-O", str(d_start), "-s", "LABEL", "-o", "value", str(disk)]).strip()
    check(label == "data", f"data partition label {label!r}")
    ok("genimage: rootfs_a holds rootfs.ext4 byte for byte, the data partition is an ext4 labelled data")


def check_buildroot_install(tmp: Path):
    """fotad.mk's install commands run by make, as Buildroot's cargo-package would run
    them (a stand-in for the infrastructure, Buildroot's helpers qstrip and sep, and
    the built binaries), with the defconfig's options and with D-Bus and SIM off."""
    mk = BR / "package/fotad/fotad.mk"
    text = mk.read_text()
    check("$(eval $(cargo-package))" in text, "fotad.mk is not a cargo-package")
    for case, dbus, sim in (("defaults", "y", "y"), ("no-dbus-no-sim", "", "")):
        build = tmp / case / "build/fotad-custom"
        release = build / "target/x86_64-buildroot-linux-gnu/release"
        release.mkdir(parents=True)
        for b in ("fotad", "fotactl", "fotad-update"):
            (release / b).write_text("#!/bin/sh\n")
        for d in ("systemd", "dbus", "yocto"):
            (build / d).symlink_to(ROOT / d)
        target = tmp / case / "target"
        key = tmp / "release.pub"
        key.write_text("stand-in public key\n")
        makefile = tmp / case / "Makefile"
        makefile.write_text(f"""BR2_EXTERNAL_FOTAD_PATH := {BR}
BR2_PACKAGE_FOTAD_COMPATIBLE := "qemu-x86_64"
BR2_PACKAGE_FOTAD_BOOTLOADER := "grub"
BR2_PACKAGE_FOTAD_GRUBENV := "/boot/efi/EFI/BOOT/grubenv"
BR2_PACKAGE_FOTAD_GPT_DISK := "/dev/vda"
BR2_PACKAGE_FOTAD_STATE_DIR := "/data/fotad"
BR2_PACKAGE_FOTAD_PUBLIC_KEYS := "{key}"
BR2_PACKAGE_FOTAD_DBUS := {dbus}
BR2_PACKAGE_FOTAD_SIM := {sim}
TARGET_DIR := {target}
INSTALL := install
RUSTC_TARGET_NAME := x86_64-buildroot-linux-gnu
qstrip = $(strip $(subst ",,$(1)))
define sep


endef
define cargo-package
{build}/.stamp_installed:
\t$$(FOTAD_INSTALL_TARGET_CMDS)
\t$$(FOTAD_INSTALL_INIT_SYSTEMD)
endef
include {mk}
""")
        run(["make", "-s", "-f", str(makefile), str(build / ".stamp_installed")])
        files = sorted("/" + str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
        want = ["/etc/fotad/keys/release.pub", "/usr/bin/fotactl", "/usr/bin/fotad", "/usr/bin/fotad-update",
                "/usr/lib/fotad/conf.d/10-fotad.toml", "/usr/lib/systemd/system/fotad-mark-good.service",
                "/usr/lib/tmpfiles.d/fotad-state.conf", "/usr/lib/tmpfiles.d/fotad.conf",
                "/usr/share/dbus-1/interfaces/org.fotad.Agent1.xml"]
        if dbus:
            want += ["/usr/lib/systemd/system/fotad.service",
                     "/usr/lib/systemd/system/fotad.service.d/10-state-dir.conf",
                     "/usr/share/dbus-1/system.d/org.fotad.Agent1.conf"]
        if not sim:
            want += ["/usr/lib/fotad/conf.d/20-no-sim.toml"]
        check(files == sorted(want), f"fotad.mk ({case}) installs {files}, expected {sorted(want)}")
        same = {"usr/lib/systemd/system/fotad-mark-good.service": "systemd/fotad-mark-good.service",
                "usr/lib/tmpfiles.d/fotad.conf": "systemd/fotad.tmpfiles.conf",
                "usr/share/dbus-1/interfaces/org.fotad.Agent1.xml": "dbus/org.fotad.Agent1.xml"}
        if dbus:
            same.update({"usr/lib/systemd/system/fotad.service": "systemd/fotad.service",
                         "usr/share/dbus-1/system.d/org.fotad.Agent1.conf": "dbus/org.fotad.Agent1.conf"})
        for installed, source in same.items():
            check((target / installed).read_bytes() == (ROOT / source).read_bytes(),
                  f"fotad.mk ({case}): /{installed} is not {source}")
        conf = tomllib.loads((target / "usr/lib/fotad/conf.d/10-fotad.toml").read_text())
        check(conf["updater"]["compatible"] == "qemu-x86_64" and conf["updater"]["state_dir"] == "/data/fotad"
              and conf["bootloader"] == {"backend": "grub", "grubenv": "/boot/efi/EFI/BOOT/grubenv",
                                         "fw_env_config": "/etc/fw_env.config"}
              and conf["slots"] == {"gpt_disk": "/dev/vda"}, f"fotad.mk ({case}): 10-fotad.toml {conf}")
        if not sim:
            check(tomllib.loads((target / "usr/lib/fotad/conf.d/20-no-sim.toml").read_text()) == {"sim": {"enabled": False}},
                  "20-no-sim.toml")
        ok(f"fotad.mk under make ({case}: D-Bus {'on' if dbus else 'off'}, SIM {'on' if sim else 'off'}): "
           f"installs {len(files)} files, units/policy/tmpfiles are those of systemd/ and dbus/, 10-fotad.toml filled in")
    users = re.search(r"^FOTAD_USERS = (.*)$", text, re.M)
    fields = users.group(1).split(None, 8) if users else []
    check(len(fields) == 9 and fields[0] == "-" and fields[2] == "fotad-ui",
          f"FOTAD_USERS is not a makeusers line creating the group fotad-ui: {fields}")
    ok("FOTAD_USERS creates the group fotad-ui (makeusers: no user, group only)")


def check_uboot_script(tmp: Path):
    """boot.scr (compiled from boot.cmd) run by real U-Boot (Debian's qemu_arm64 build
    under qemu-system-aarch64) from a virtio disk laid out like fotad-ab-uboot.wks.in:
    it loads the kernel from the chosen slot's partition, boots with U-Boot's own
    device tree when fdtfile is empty (QEMU virt), and when the kernel does not boot
    restarts for a slot in trial but returns for a confirmed one."""
    uboot_bin = Path("/usr/lib/u-boot/qemu_arm64/u-boot.bin")
    check(uboot_bin.is_file(), f"{uboot_bin} missing: install u-boot-qemu")
    scr = tmp / "boot.scr"
    run(["mkimage", "-A", "arm64", "-O", "linux", "-T", "script", "-C", "none", "-n", "fotad",
         "-d", str(LAYER / "recipes-bsp/u-boot/files/boot.cmd"), str(scr)])
    disk = tmp / "uboot-disk.img"
    with disk.open("wb") as f:
        f.truncate(40 * MIB)
    run(["sgdisk", "-o", "-n", "1:8192:+8M", "-c", "1:boot", "-n", "2:0:+8M", "-c", "2:rootfs_a",
         "-n", "3:0:+8M", "-c", "3:rootfs_b", "-n", "4:0:+4M", "-c", "4:data", str(disk)])
    parts = {}
    for n in (1, 2, 3):
        info = run(["sgdisk", "-i", str(n), str(disk)])
        parts[n] = int(re.search(r"First sector: (\d+)", info).group(1)) * 512
    boot = tmp / "boot.vfat"
    run(["mkfs.vfat", "-C", str(boot), str(8 * 1024)])
    run(["mcopy", "-i", str(boot), str(scr), "::boot.scr"])
    images = {1: boot.read_bytes()}
    for n, slot in ((2, "A"), (3, "B")):
        src = tmp / f"slot{slot}"
        (src / "boot").mkdir(parents=True)
        (src / "boot/Image").write_bytes(f"not a kernel: slot {slot}\n".encode() * 64)
        img = tmp / f"slot{slot}.ext4"
        run(["mkfs.ext4", "-q", "-F", "-d", str(src), str(img), "8M"])
        images[n] = img.read_bytes()
    with disk.open("r+b") as f:
        for n, data in images.items():
            f.seek(parts[n])
            f.write(data)

    def boot_once(name: str, state: str) -> str:
        env_dev = tmp / f"env-{name}.bin"
        env_dev.write_bytes(bytes(0x40000))
        cfg = tmp / f"env-{name}.config"
        cfg.write_text(f"{env_dev} 0x0 0x40000\n")
        # The load addresses of U-Boot's qemu-arm default environment (which the
        # environment written here replaces).
        script = (f"{state}; setenv scriptaddr 0x40200000; setenv kernel_addr_r 0x40400000; "
                  "setenv fdt_addr_r 0x40000000; virtio scan; setenv devtype virtio; setenv devnum 0; "
                  "load virtio 0:1 ${scriptaddr} boot.scr; source ${scriptaddr}; "
                  "echo \"RETURNED slot=${fotad_slot} fdt=${fotad_fdt} control=${fdtcontroladdr} fdtfile=${fdtfile}\"; "
                  "poweroff")
        defenv = tmp / "defenv"
        defenv.write_text("bootdelay=0\n")
        for k, v in (("bootdelay", "0"), ("bootcmd", script)):
            run(["fw_setenv", "-c", str(cfg), "-f", str(defenv), k, v])
        flash0, flash1 = tmp / "flash0.img", tmp / f"flash1-{name}.img"
        for path, content in ((flash0, uboot_bin.read_bytes()), (flash1, env_dev.read_bytes())):
            with path.open("wb") as f:
                f.truncate(64 * MIB)
                f.write(content)
        r = subprocess.run(["timeout", "120", "qemu-system-aarch64", "-machine", "virt", "-cpu", "cortex-a57",
                            "-m", "256", "-nographic", "-no-reboot", "-nic", "none",
                            "-drive", f"if=pflash,format=raw,file={flash0}",
                            "-drive", f"if=pflash,format=raw,file={flash1}",
                            "-drive", f"if=none,format=raw,file={disk},id=hd",
                            "-device", "virtio-blk-device,drive=hd"],
                           capture_output=True, text=True, stdin=subprocess.DEVNULL)
        return r.stdout

    confirmed = boot_once("confirmed", "setenv BOOT_ORDER 'A B'; setenv BOOT_A_OK 1; setenv BOOT_A_LEFT 3; "
                                       "setenv BOOT_B_OK 0; setenv BOOT_B_LEFT 0")
    check("fotad: cannot boot slot A from virtio 0:2" in confirmed, f"U-Boot, slot A confirmed:\n{confirmed}")
    m = re.search(r"RETURNED slot=A fdt=(\S*) control=(\S*) fdtfile=(\S*)", confirmed)
    check(m is not None and m.group(1) and m.group(1) == m.group(2),
          f"U-Boot, slot A confirmed: the script did not return with fdt = fdtcontroladdr:\n{confirmed}")
    check("not a kernel" not in confirmed and "bytes read" in confirmed, f"U-Boot did not load /boot/Image:\n{confirmed}")
    ok(f"U-Boot runs boot.scr: confirmed slot A loads /boot/Image from virtio 0:2, boots with fdtcontroladdr "
       f"({m.group(2)}; fdtfile empty), and returns to U-Boot when the kernel does not boot")
    trial = boot_once("trial", "setenv BOOT_ORDER 'B A'; setenv BOOT_A_OK 1; setenv BOOT_A_LEFT 3; "
                               "setenv BOOT_B_OK 0; setenv BOOT_B_LEFT 2")
    check("fotad: cannot boot slot B from virtio 0:3" in trial and "RETURNED" not in trial,
          f"U-Boot, slot B in trial:\n{trial}")
    ok("U-Boot runs boot.scr: slot B in trial loads from virtio 0:3 and, the kernel not booting, restarts")


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in ("recipe-env", "wks", "buildroot", "uboot"):
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    what, arg = sys.argv[1], Path(sys.argv[2] if len(sys.argv) > 2 else ".")
    try:
        with tempfile.TemporaryDirectory(prefix="check-layers-") as t:
            tmp = Path(t)
            if what == "recipe-env":
                fotad_update = sys.argv[3]
                envs = {r: Env(arg / f"env.{r}") for r in
                        ("fotad", "fotad-update-native", "fotad-grub-cfg", "fotad-uboot-script", "fotad-image")}
                (tmp / "fotad").mkdir()
                check_fotad(envs["fotad"], tmp / "fotad")
                (tmp / "native").mkdir()
                check_native(envs["fotad-update-native"], tmp / "native")
                check_bsp(envs, tmp, fotad_update)
                check_image(envs["fotad-image"], tmp, fotad_update)
            elif what == "wks":
                check_wks(arg, tmp)
            elif what == "uboot":
                check_uboot_script(tmp)
            else:
                check_genimage(tmp)
                check_buildroot_install(tmp)
    except CheckError as e:
        print(f"check-layers: FAILED: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
