/**
 * A classic-BPF seccomp filter for bwrap's `--seccomp FD` (x86_64 only): syscalls a tool never needs and that
 * widen the kernel attack surface fail with EPERM; x32-ABI numbers fail too; any other architecture is
 * killed (a 32-bit binary could otherwise reach the denied calls under other numbers). Everything else is
 * allowed: namespaces, uid 65534 and no capabilities remain the main wall; this narrows what is behind it.
 */
const DENIED_X86_64: Record<string, number> = {
  ptrace: 101, syslog: 103, personality: 135, vhangup: 153, pivot_root: 155, adjtimex: 159, acct: 163, settimeofday: 164,
  mount: 165, umount2: 166, swapon: 167, swapoff: 168, reboot: 169, iopl: 172, ioperm: 173, init_module: 175,
  delete_module: 176, quotactl: 179, lookup_dcookie: 212, clock_settime: 227, kexec_load: 246, add_key: 248,
  request_key: 249, keyctl: 250, unshare: 272, perf_event_open: 298, name_to_handle_at: 303, open_by_handle_at: 304,
  clock_adjtime: 305, setns: 308, process_vm_readv: 310, process_vm_writev: 311, finit_module: 313,
  kexec_file_load: 320, bpf: 321, userfaultfd: 323, io_uring_setup: 425, io_uring_enter: 426, io_uring_register: 427,
  open_tree: 428, move_mount: 429, fsopen: 430, fsconfig: 431, fsmount: 432, fspick: 433, mount_setattr: 442,
};

const BPF_LD_W_ABS = 0x20;
const BPF_JEQ_K = 0x15;
const BPF_JGE_K = 0x35;
const BPF_RET_K = 0x06;
const AUDIT_ARCH_X86_64 = 0xc000003e;
const SECCOMP_RET_KILL_PROCESS = 0x80000000;
const SECCOMP_RET_ERRNO_EPERM = 0x00050000 | 1;
const SECCOMP_RET_ALLOW = 0x7fff0000;
const X32_SYSCALL_BIT = 0x40000000;

/** The syscalls the filter refuses, by name (for docs and tests). */
export const DENIED_SYSCALLS: readonly string[] = Object.keys(DENIED_X86_64);

/** The filter as bytes (struct sock_filter[]), or null on an architecture it has no table for. */
export function seccompFilter(arch: string = process.arch): Buffer | null {
  if (arch !== 'x64') return null;
  const nrs = Object.values(DENIED_X86_64);
  const ins: [number, number, number, number][] = [
    [BPF_LD_W_ABS, 0, 0, 4], // seccomp_data.arch
    [BPF_JEQ_K, 1, 0, AUDIT_ARCH_X86_64],
    [BPF_RET_K, 0, 0, SECCOMP_RET_KILL_PROCESS],
    [BPF_LD_W_ABS, 0, 0, 0], // seccomp_data.nr
  ];
  // instructions after the x32 check: one per denied number, then ALLOW, then ERRNO
  const deny = nrs.length + 1; // jump distance from the x32 check to the ERRNO return
  ins.push([BPF_JGE_K, deny, 0, X32_SYSCALL_BIT]);
  nrs.forEach((nr, i) => ins.push([BPF_JEQ_K, nrs.length - i, 0, nr]));
  ins.push([BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW]);
  ins.push([BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO_EPERM]);
  const buf = Buffer.alloc(ins.length * 8);
  ins.forEach(([code, jt, jf, k], i) => {
    buf.writeUInt16LE(code, i * 8);
    buf.writeUInt8(jt, i * 8 + 2);
    buf.writeUInt8(jf, i * 8 + 3);
    buf.writeUInt32LE(k >>> 0, i * 8 + 4);
  });
  return buf;
}
