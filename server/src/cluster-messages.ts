/** The one question a cluster primary asks its server processes over IPC, and the answer's key. */
export const READY_QUESTION = 'livevote:ready?';
export const READY_ANSWER = 'livevote:ready';

export type ReadyQuestion = { [READY_QUESTION]: number };
export type ReadyAnswer = { [READY_ANSWER]: number; ok: boolean };

export const isReadyQuestion = (m: unknown): m is ReadyQuestion => typeof m === 'object' && m !== null && READY_QUESTION in m;
export const isReadyAnswer = (m: unknown): m is ReadyAnswer => typeof m === 'object' && m !== null && READY_ANSWER in m;
