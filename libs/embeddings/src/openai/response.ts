import { EmbeddingUnavailableError } from '../errors.ts';
import { normalise } from '../provider.ts';

/**
 * Vectors of an OpenAI-style `/v1/embeddings` answer
 * (`{data: [{index, embedding}], model, usage}`), in input order, unit
 * length. `embedding` may be an array of numbers or base64 float32 (servers
 * that ignore `encoding_format: "float"`).
 */
export function parseEmbeddingsResponse(body: unknown, count: number, dimensions: number, model: string): Float32Array[] {
  const data = (body as { data?: unknown } | null)?.data;
  if (!Array.isArray(data)) throw protocol('the answer has no "data" array');
  if (data.length !== count) throw protocol(`the answer has ${data.length} embeddings for ${count} inputs`);
  const vectors: (Float32Array | undefined)[] = new Array(count);
  data.forEach((item: unknown, position) => {
    const { index, embedding } = (item ?? {}) as { index?: unknown; embedding?: unknown };
    const at = index === undefined ? position : index;
    if (typeof at !== 'number' || !Number.isInteger(at) || at < 0 || at >= count) throw protocol(`data[${position}].index is not an input position`);
    if (vectors[at]) throw protocol(`data[${position}].index ${at} appears twice`);
    const vector = toVector(embedding, position);
    if (vector.length !== dimensions) {
      throw new EmbeddingUnavailableError(
        'dimensions',
        `embedding server answered ${vector.length}-dimensional vectors for model ${model}, but EMBEDDING_DIMENSIONS is ${dimensions}: set it to the model's dimension (and reindex), or pick a model that makes ${dimensions}`,
      );
    }
    vectors[at] = normalise(vector);
  });
  return vectors as Float32Array[];
}

function toVector(embedding: unknown, position: number): Float32Array {
  if (typeof embedding === 'string') {
    const bytes = Buffer.from(embedding, 'base64');
    if (bytes.length % 4 !== 0) throw protocol(`data[${position}].embedding is not base64 float32`);
    const vector = new Float32Array(bytes.length / 4);
    for (let i = 0; i < vector.length; i++) vector[i] = bytes.readFloatLE(i * 4);
    if (!vector.every(Number.isFinite)) throw protocol(`data[${position}].embedding holds a non-finite number`);
    return vector;
  }
  if (!Array.isArray(embedding) || embedding.length === 0) throw protocol(`data[${position}].embedding is not an array of numbers`);
  const vector = new Float32Array(embedding.length);
  for (let i = 0; i < embedding.length; i++) {
    const value: unknown = embedding[i];
    if (typeof value !== 'number' || !Number.isFinite(value)) throw protocol(`data[${position}].embedding[${i}] is not a finite number`);
    vector[i] = value;
  }
  return vector;
}

function protocol(message: string): EmbeddingUnavailableError {
  return new EmbeddingUnavailableError('protocol', `embedding server sent a malformed answer: ${message}`);
}
