/**
 * The default seccomp profile: everything allowed except the system calls Docker's default profile
 * withholds from unprivileged containers (kernel modules, keyrings, mount, clock, reboot, ptrace of
 * other processes, namespaces, ...). Calls tied to a capability are allowed when the container has it.
 */

export interface SeccompProfile {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  syscalls: Array<{
    names: string[];
    action: string;
    errnoRet?: number;
    args?: Array<{ index: number; value: number; valueTwo: number; op: string }>;
  }>;
}

const ALWAYS_DENIED = [
  'add_key',
  'create_module',
  'get_kernel_syms',
  'kexec_file_load',
  'kexec_load',
  'keyctl',
  'lookup_dcookie',
  'nfsservctl',
  'query_module',
  'request_key',
  'uselib',
  'userfaultfd',
  'ustat',
  'vm86',
  'vm86old',
  '_sysctl',
  'sysfs',
  // io_uring bypasses seccomp for the operations it queues; Docker's profile has refused it since 25.0.
  'io_uring_enter',
  'io_uring_register',
  'io_uring_setup',
];

/** clone(2) flags that make namespaces: CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET (Docker's mask 0x7E020000). */
const CLONE_NAMESPACE_FLAGS = [0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000];
const EPERM = 1;

const BY_CAPABILITY: Record<string, string[]> = {
  CAP_SYS_ADMIN: [
    'bpf',
    'clone3',
    'fanotify_init',
    'fsconfig',
    'fsmount',
    'fsopen',
    'fspick',
    'mount',
    'mount_setattr',
    'move_mount',
    'name_to_handle_at',
    'open_tree',
    'perf_event_open',
    'pivot_root',
    'quotactl',
    'setdomainname',
    'sethostname',
    'setns',
    'swapoff',
    'swapon',
    'umount',
    'umount2',
    'unshare',
  ],
  CAP_SYS_BOOT: ['reboot'],
  CAP_SYS_MODULE: ['delete_module', 'finit_module', 'init_module'],
  CAP_SYS_PTRACE: ['kcmp', 'pidfd_getfd', 'process_madvise', 'process_vm_readv', 'process_vm_writev', 'ptrace'],
  CAP_SYS_RAWIO: ['iopl', 'ioperm'],
  CAP_SYS_TIME: ['adjtimex', 'clock_adjtime', 'clock_settime', 'settimeofday', 'stime'],
  CAP_SYS_NICE: ['get_mempolicy', 'mbind', 'set_mempolicy', 'move_pages'],
  CAP_DAC_READ_SEARCH: ['open_by_handle_at'],
  CAP_SYSLOG: ['syslog'],
};

export function defaultSeccompProfile(caps: string[]): SeccompProfile {
  const denied = [...ALWAYS_DENIED];
  for (const [cap, calls] of Object.entries(BY_CAPABILITY)) {
    if (!caps.includes(cap)) denied.push(...calls);
  }
  // clone3 is refused with ENOSYS so libcs fall back to clone, as Docker's profile does.
  const enosys = denied.includes('clone3') ? ['clone3'] : [];
  return {
    defaultAction: 'SCMP_ACT_ALLOW',
    architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
    syscalls: [
      { names: denied.filter((n) => !enosys.includes(n)), action: 'SCMP_ACT_ERRNO', errnoRet: EPERM },
      ...(enosys.length ? [{ names: enosys, action: 'SCMP_ACT_ERRNO', errnoRet: 38 }] : []),
      // Without CAP_SYS_ADMIN, clone may not make namespaces: one rule per flag, since rules are or-ed
      // and the conditions of one rule and-ed.
      ...(caps.includes('CAP_SYS_ADMIN')
        ? []
        : CLONE_NAMESPACE_FLAGS.map((flag) => ({
            names: ['clone'],
            action: 'SCMP_ACT_ERRNO',
            errnoRet: EPERM,
            args: [{ index: 0, value: flag, valueTwo: flag, op: 'SCMP_CMP_MASKED_EQ' }],
          }))),
    ],
  };
}
