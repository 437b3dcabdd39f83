import { createRegistry } from '@bufbuild/protobuf';
import { file_csda_events_v1_audit_event } from '@csda/proto/csda/events/v1/audit_event_pb.js';
import { file_csda_events_v1_service_started } from '@csda/proto/csda/events/v1/service_started_pb.js';

/** Every protobuf type that may arrive on AUDIT; the consumer decodes by the Csda-Event-Type header. */
export const auditEventRegistry = createRegistry(file_csda_events_v1_service_started, file_csda_events_v1_audit_event);
