import { Migration } from '@mikro-orm/migrations';

/**
 * Alerts (raised once per dedupe key), the webhooks an admin configures, and
 * one delivery row per alert × webhook that the delivery loop claims, sends
 * and retries.
 */
export class Migration20261203010000Alerts extends Migration {
  override up(): void {
    this.addSql(`create table "scheduler"."alerts" (
      "id" uuid primary key,
      "dedupe_key" text not null constraint "alerts_dedupe_key_unique" unique,
      "kind" text not null check ("kind" in ('rotation_due', 'rotation_failed', 'secret_expiring', 'secret_expired')),
      "severity" text not null check ("severity" in ('info', 'warning', 'critical')),
      "owner_id" text not null,
      "resource_type" text not null,
      "resource_id" text not null,
      "message" text not null,
      "created_at" timestamptz not null default now(),
      "acknowledged_at" timestamptz null,
      "acknowledged_by" text null,
      constraint "alerts_ack_complete" check (("acknowledged_at" is null) = ("acknowledged_by" is null))
    )`);
    this.addSql('create index "alerts_owner_created_idx" on "scheduler"."alerts" ("owner_id", "created_at" desc, "id")');
    this.addSql('create index "alerts_created_idx" on "scheduler"."alerts" ("created_at" desc, "id")');

    this.addSql(`create table "scheduler"."alert_webhooks" (
      "id" uuid primary key,
      "url" text not null,
      "kinds" text[] not null default '{}',
      "signing_secret_id" uuid not null,
      "description" text not null default '',
      "created_by" text not null,
      "created_by_name" text not null,
      "created_at" timestamptz not null default now(),
      "deleted_at" timestamptz null
    )`);
    this.addSql('create index "alert_webhooks_active_idx" on "scheduler"."alert_webhooks" ("created_at") where "deleted_at" is null');

    this.addSql(`create table "scheduler"."alert_deliveries" (
      "id" uuid primary key,
      "alert_id" uuid not null references "scheduler"."alerts" ("id") on delete cascade,
      "webhook_id" uuid not null references "scheduler"."alert_webhooks" ("id") on delete cascade,
      "status" text not null default 'pending' check ("status" in ('pending', 'delivered', 'failed')),
      "attempts" int not null default 0,
      "next_attempt_at" timestamptz not null default now(),
      "last_status" int null,
      "last_error" text null,
      "delivered_at" timestamptz null,
      "created_at" timestamptz not null default now(),
      "updated_at" timestamptz not null default now(),
      constraint "alert_deliveries_alert_webhook_unique" unique ("alert_id", "webhook_id")
    )`);
    this.addSql('create index "alert_deliveries_pending_idx" on "scheduler"."alert_deliveries" ("next_attempt_at") where "status" = \'pending\'');
    this.addSql('create index "alert_deliveries_webhook_idx" on "scheduler"."alert_deliveries" ("webhook_id")');
  }

  override down(): void {
    this.addSql('drop table if exists "scheduler"."alert_deliveries"');
    this.addSql('drop table if exists "scheduler"."alert_webhooks"');
    this.addSql('drop table if exists "scheduler"."alerts"');
  }
}
