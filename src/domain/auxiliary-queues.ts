/**
 * Queues that serve no provider: the result callbacks (issue 17). Named here so the layout (a queue's Redis Cluster
 * slot), the catalog operators see and the callbacks themselves agree on it.
 */
export const CALLBACK_QUEUE = 'callbacks';

export const AUXILIARY_QUEUES: readonly string[] = [CALLBACK_QUEUE];
