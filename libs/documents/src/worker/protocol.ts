import type { ParseFailureKind } from '../errors.ts';
import type { DocumentFormat, ParseLimits, ParseProgress, ParsedDocument } from '../types.ts';

/** What the host hands the parse worker (`workerData`). */
export interface WorkerRequest {
  format: DocumentFormat;
  /** Exactly one of bytes (transferred) and path. */
  bytes?: Uint8Array;
  path?: string;
  limits: Partial<ParseLimits>;
}

/** What the parse worker posts back. */
export type WorkerMessage =
  | { type: 'progress'; progress: ParseProgress }
  | { type: 'result'; document: ParsedDocument }
  | { type: 'failure'; kind: ParseFailureKind; message: string };
