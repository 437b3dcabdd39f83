export const TOOL_TYPES = ['python_script', 'shell_command', 'api_call', 'sql_query'] as const;
export type ToolType = (typeof TOOL_TYPES)[number];

/** A secret the tool may use: `env:NAME`, `header:Name` or `datasource`. */
export interface SecretGrant {
  readonly secretId: string;
  readonly as: string;
}

/** What a caller saves: validated and normalised by tool.validation.ts. */
export interface ToolDefinition {
  readonly name: string;
  readonly description: string;
  readonly toolType: ToolType;
  readonly config: Readonly<Record<string, unknown>>;
  readonly inputSchema: Readonly<Record<string, unknown>>;
  readonly timeoutS: number;
  readonly maxOutputBytes: number;
  readonly network: boolean;
  readonly secrets: readonly SecretGrant[];
  readonly isPublic: boolean;
  readonly sharedWithRoles: readonly string[];
}

export interface ToolRecord extends ToolDefinition {
  readonly id: string;
  readonly ownerId: string;
  readonly ownerName: string;
  /** The owner's roles when they last saved the tool: the vault sees secrets shared with them through these. */
  readonly ownerRoles: readonly string[];
  readonly version: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export const DEFAULT_TIMEOUT_S = 300;
export const DEFAULT_MAX_OUTPUT_BYTES = 1024 * 1024;
export const DEFAULT_MAX_ROWS = 1_000;
export const MAX_ROWS_LIMIT = 10_000;
