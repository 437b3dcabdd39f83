import { create } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import { ErrorDetailSchema } from '@csda/proto/csda/common/v1/error_detail_pb.js';
import { classifyError } from './classify.ts';
import { CODE_TABLE } from './codes.ts';

/**
 * Turns anything thrown inside an RPC handler into a ConnectError carrying a
 * CSDA ErrorDetail, classified as the REST envelope classifies it
 * (classifyError). The original error stays available as `cause` for logs.
 */
export function toConnectError(err: unknown, exposeInternals: boolean): ConnectError {
  if (err instanceof ConnectError && err.findDetails(ErrorDetailSchema).length > 0) return err;
  const described = classifyError(err, exposeInternals);
  const detail = create(ErrorDetailSchema, { code: described.code, details: { ...described.details } });
  return new ConnectError(described.message, CODE_TABLE[described.code].connect, undefined, [
    { desc: ErrorDetailSchema, value: detail },
  ], err);
}

export { Code };
