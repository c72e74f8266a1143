# fotad A/B slot selection for U-Boot (compile with mkimage -T script).
#
# Environment (libubootenv format, see fw_env.config), RAUC's variables plus OK:
#   BOOT_ORDER="A B"            the bootable slots, the primary first
#   BOOT_A_OK, BOOT_B_OK        1 = confirmed good
#   BOOT_A_LEFT, BOOT_B_LEFT    boot tries left while the slot is in trial (0-9)
# good = in BOOT_ORDER, OK=1; trial = in BOOT_ORDER, OK=0, LEFT=n; bad = not in
# BOOT_ORDER. Without BOOT_ORDER the environment is in its factory state: A good.
#
# Rule (the same as fotad's boot simulator): take the slots in BOOT_ORDER; a
# confirmed slot boots WITHOUT spending a try, so power cuts before mark-good can
# never abandon it (unlike rauc/rauc#490); a slot in trial with tries left spends
# one, saved with saveenv before booting; other slots are skipped. When no slot
# is bootable the first one in BOOT_ORDER (else A) is tried as a last resort.
# LEFT stays below 10, so setexpr's hexadecimal result is also decimal.

if test -z "${BOOT_ORDER}"; then
    setenv BOOT_ORDER A
    setenv BOOT_A_OK 1
    setenv BOOT_A_LEFT 3
    setenv BOOT_B_OK 0
    setenv BOOT_B_LEFT 0
fi

setenv fotad_slot
setenv fotad_save
for s in ${BOOT_ORDER}; do
    if test -z "${fotad_slot}"; then
        if test "${s}" = "A"; then
            if test "${BOOT_A_OK}" = "1"; then
                setenv fotad_slot A
            elif test -n "${BOOT_A_LEFT}" && test ${BOOT_A_LEFT} -gt 0; then
                setexpr BOOT_A_LEFT ${BOOT_A_LEFT} - 1
                setenv fotad_slot A
                setenv fotad_save 1
            fi
        fi
        if test "${s}" = "B"; then
            if test "${BOOT_B_OK}" = "1"; then
                setenv fotad_slot B
            elif test -n "${BOOT_B_LEFT}" && test ${BOOT_B_LEFT} -gt 0; then
                setexpr BOOT_B_LEFT ${BOOT_B_LEFT} - 1
                setenv fotad_slot B
                setenv fotad_save 1
            fi
        fi
    fi
done

# Save the spent try before booting (fotad_slot, the choice, is saved along).
if test -n "${fotad_save}"; then
    setenv fotad_save
    saveenv
fi

if test -z "${fotad_slot}"; then
    echo "fotad: no bootable slot (BOOT_ORDER=${BOOT_ORDER}); trying the first one as a last resort"
    for s in ${BOOT_ORDER} A; do
        if test -z "${fotad_slot}"; then
            setenv fotad_slot ${s}
        fi
    done
fi

# Partition numbers and kernel location: those of fotad-ab-uboot.wks.in (1 boot,
# 2 rootfs_a, 3 rootfs_b, 4 data; the kernel in each slot's /boot).
if test "${fotad_slot}" = "B"; then
    setenv fotad_part rootfs_b
    setenv fotad_partnum 3
else
    setenv fotad_part rootfs_a
    setenv fotad_partnum 2
fi
setenv bootargs "${bootargs} root=PARTLABEL=${fotad_part} fotad.slot=${fotad_slot} rootwait ro"
if load ${devtype} ${devnum}:${fotad_partnum} ${kernel_addr_r} /boot/Image; then
    # The slot's device tree when the board names one; else the one U-Boot runs
    # with (QEMU virt and firmware-provided trees have no fdtfile).
    if test -n "${fdtfile}"; then
        load ${devtype} ${devnum}:${fotad_partnum} ${fdt_addr_r} /boot/${fdtfile}
        setenv fotad_fdt ${fdt_addr_r}
    else
        setenv fotad_fdt ${fdtcontroladdr}
    fi
    booti ${kernel_addr_r} - ${fotad_fdt}
fi
# Not bootable. A slot in trial has spent its try (saved above): restart, and the
# next boot moves on when the tries run out. A confirmed slot would be chosen
# again: leave it to the board's other boot commands instead of looping.
echo "fotad: cannot boot slot ${fotad_slot} from ${devtype} ${devnum}:${fotad_partnum}"
setenv fotad_ok ${BOOT_A_OK}
if test "${fotad_slot}" = "B"; then
    setenv fotad_ok ${BOOT_B_OK}
fi
if test "${fotad_ok}" != "1"; then
    reset
fi
