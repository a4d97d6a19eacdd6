/** `aad pairs` over a Redis-backed BullMQ queue: enqueue a run, decode its rows on any number of workers, collect the file. */
export * from "./clean.ts";
export * from "./collect.ts";
export * from "./connection.ts";
export * from "./enqueue.ts";
export * from "./errors.ts";
export { provenancePath, type ProvenanceWorker, type RunProvenance } from "./provenance.ts";
export { checkJobName, JOB_NAME_PATTERN, modelDifferences, rowJobId, type CollectRecord, type RowJobData, type RowJobResult, type RunManifest, type WorkerRecord } from "./run.ts";
export * from "./status.ts";
export * from "./worker.ts";
