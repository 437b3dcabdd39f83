/** The bytes of a document, in memory or in a file (read by the parser, streamed for CSV). */
export type ParseSource = { bytes: Uint8Array; path?: undefined } | { bytes?: undefined; path: string };
