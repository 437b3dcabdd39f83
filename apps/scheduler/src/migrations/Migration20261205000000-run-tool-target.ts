import { Migration } from '@mikro-orm/migrations';

/** Schedules may run a tool (target `run_tool`: `{tool_id, input}`); runs record the tool-runner's execution id as their job id. */
export class Migration20261205000000RunToolTarget extends Migration {
  override up(): void {
    this.addSql(`alter table "scheduler"."schedules" drop constraint "schedules_target_type_check",
      add constraint "schedules_target_type_check" check ("target_type" in ('rotate_secret', 'run_tool'))`);
  }

  override down(): void {
    this.addSql(`alter table "scheduler"."schedules" drop constraint "schedules_target_type_check",
      add constraint "schedules_target_type_check" check ("target_type" in ('rotate_secret'))`);
  }
}
