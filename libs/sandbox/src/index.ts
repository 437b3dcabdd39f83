export { expandArgv, resolveProgram, SANDBOX_PATH } from './argv.ts';
export { bwrapArgs, SANDBOX_HOME, SANDBOX_UID } from './bwrap-args.ts';
export { detectSandbox } from './detect.ts';
export { formatBytes, formatSeconds } from './format.ts';
export { allocateHostUid, HOST_UID_BASE } from './host.ts';
export { createSandbox } from './run.ts';
export type { Sandbox, SandboxLimits, SandboxMode, SandboxOutcome, SandboxRequest, SandboxResult } from './types.ts';
export { SandboxError } from './types.ts';
export { benchmarkSpawnOverhead, type SpawnOverheadResult } from './benchmark.ts';
