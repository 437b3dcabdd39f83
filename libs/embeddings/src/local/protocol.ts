/** Messages between the local provider's pool and its worker threads. */
export interface BatchRequest {
  readonly id: number;
  readonly texts: readonly string[];
}

export type WorkerMessage =
  | { readonly type: 'ready' }
  | { readonly type: 'fatal'; readonly message: string }
  | { readonly type: 'result'; readonly id: number; readonly vectors: Float32Array }
  | { readonly type: 'error'; readonly id: number; readonly message: string };
