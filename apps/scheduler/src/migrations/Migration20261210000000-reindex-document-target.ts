import { Migration } from '@mikro-orm/migrations';

/** Schedules may reindex a document (target `reindex_document`: `{document_id}`); runs record `<document id>:v<version>` as their job id. */
export class Migration20261210000000ReindexDocumentTarget extends Migration {
  override up(): void {
    this.addSql(`alter table "scheduler"."schedules" drop constraint "schedules_target_type_check",
      add constraint "schedules_target_type_check" check ("target_type" in ('rotate_secret', 'run_tool', 'reindex_document'))`);
  }

  override down(): void {
    this.addSql(`alter table "scheduler"."schedules" drop constraint "schedules_target_type_check",
      add constraint "schedules_target_type_check" check ("target_type" in ('rotate_secret', 'run_tool'))`);
  }
}
