/** One audited fact; the outbox (outbox.ts) turns it into an AuditEvent on `csda.audit.<service>.<action>`. */
export interface AuditFact {
  /** snake_case verb phrase, e.g. `secret_revealed`, `login_failed`. */
  readonly action: string;
  /** User id, `anonymous`, or `service:<name>`. */
  readonly actor: string;
  readonly actorName?: string;
  readonly outcome?: 'success' | 'failure';
  readonly resourceType?: string;
  readonly resourceId?: string;
  readonly ip?: string;
  readonly requestId?: string;
  /** Safe facts only: never a value, password or token. */
  readonly details?: Readonly<Record<string, string>>;
}
