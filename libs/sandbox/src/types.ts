/** Per-execution limits. Every field is required: the caller caps the tool's values with the operator's. */
export interface SandboxLimits {
  /** Wall-clock time, enforced by a timer in the runner (the whole sandbox is killed). */
  wallMs: number;
  /** CPU seconds per process (RLIMIT_CPU): the process gets SIGXCPU at the limit. */
  cpuSeconds: number;
  /** Address space per process (RLIMIT_AS). Python raises MemoryError; other programs fail to allocate. */
  memoryBytes: number;
  /** Processes and threads of the sandbox (RLIMIT_NPROC, counted in the sandbox's own user namespace). */
  processes: number;
  /** Largest file a process may write (RLIMIT_FSIZE); also the size of the tmpfs working directory and /tmp. */
  fileSizeBytes: number;
  /** Open file descriptors per process (RLIMIT_NOFILE). */
  openFiles: number;
  /** stdout and stderr are each kept up to this many bytes; past it the sandbox is killed. */
  outputBytes: number;
}

export interface SandboxRequest {
  /** argv[0] is resolved with resolveProgram (bare name in the sandbox PATH, or an absolute path under /usr or /bin). */
  argv: string[];
  /** Written to the program's stdin, which is then closed (closed at once when absent). */
  stdin?: string | Buffer;
  /** The program's whole environment besides PATH, HOME and LANG, which the sandbox sets (and which win). */
  env: Record<string, string>;
  /**
   * Either way the program gets a network namespace of its own, with only a loopback interface: no route out.
   * true (bwrap): `egress` is started for the run and HTTP_PROXY/HTTPS_PROXY point at a relay to it, the only
   * way out. Mode `none` has no namespaces at all (the host's network, whatever this says).
   */
  network: boolean;
  /** Required with `network: true` in bwrap mode: the run's egress proxy (see EgressStarter). */
  egress?: EgressStarter;
  limits: SandboxLimits;
  /** Aborting kills the sandbox; the result's outcome is 'cancelled'. */
  signal?: AbortSignal;
}

/**
 * Starts the run's egress proxy listening on `socketPath`, a unix socket in a directory private to the run,
 * before the program starts; the sandbox closes it when the run ends (whatever the outcome). Whatever listens
 * there is the program's only way out: an HTTP proxy (CONNECT and absolute-form), reached from inside through
 * 127.0.0.1:SANDBOX_PROXY_PORT.
 */
export type EgressStarter = (socketPath: string) => Promise<{ close(): Promise<void> }>;

export type SandboxOutcome = 'exited' | 'timed_out' | 'output_limit' | 'cancelled' | 'killed';

export interface SandboxResult {
  exitCode: number | null;
  signal: string | null;
  stdout: Buffer;
  stderr: Buffer;
  /** stdout or stderr was cut at limits.outputBytes. */
  truncated: boolean;
  durationMs: number;
  outcome: SandboxOutcome;
  /** Plain words, e.g. "killed after 300 s", "output cut at 1 MiB", "CPU limit of 10 s reached", "memory limit reached". */
  reason?: string;
}

export type SandboxMode = 'bwrap' | 'none';

export interface Sandbox {
  readonly mode: SandboxMode;
  run(req: SandboxRequest): Promise<SandboxResult>;
}

/** A request the sandbox refuses before starting anything (bad argv, program outside the PATH, bad env name). */
export class SandboxError extends Error {
  readonly code = 'SANDBOX_REFUSED' as const;
  constructor(message: string) {
    super(message);
    this.name = 'SandboxError';
  }
}
