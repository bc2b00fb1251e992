/**
 * The one module that names Understudy's Temporal surface: task queues and custom search attributes.
 * The worker, the CLI, the stack manager (which registers the attributes) and the tests all import it.
 * No Node built-ins here: workflow code imports this module too.
 */
import { SearchAttributeType as SdkSearchAttributeType, defineSearchAttributeKey } from '@temporalio/common';

/** Task queue of the TypeScript worker: every workflow and activity of the orchestrator. */
export const TASK_QUEUE = 'understudy';

/** Task queue of the Python worker that runs the model trainer. */
export const TRAINING_TASK_QUEUE = 'understudy-training';

/** Indexed value types the Temporal server accepts for custom search attributes. */
export type SearchAttributeType = 'Keyword' | 'Text' | 'Int' | 'Double' | 'Bool' | 'Datetime' | 'KeywordList';

/**
 * Custom search attributes kept current on every host-pair transition, so the Web UI can filter the fleet
 * (for example `PairPhase = "failing-over"` or `Paused = true`), and on every rollout transition (`RolloutPhase`).
 */
export const SEARCH_ATTRIBUTES = {
  PairId: 'Keyword',
  PrimaryHost: 'Keyword',
  ShadowHost: 'Keyword',
  PrimaryRegion: 'Keyword',
  ShadowRegion: 'Keyword',
  PairPhase: 'Keyword',
  Paused: 'Bool',
  RolloutId: 'Keyword',
  RolloutPhase: 'Keyword',
} as const satisfies Record<string, SearchAttributeType>;

export type SearchAttributeName = keyof typeof SEARCH_ATTRIBUTES;

/** Typed keys for the attributes above, for workflows (`upsertSearchAttributes`) and clients (`typedSearchAttributes`). */
export const SearchAttributeKeys = {
  PairId: defineSearchAttributeKey('PairId', SdkSearchAttributeType.KEYWORD),
  PrimaryHost: defineSearchAttributeKey('PrimaryHost', SdkSearchAttributeType.KEYWORD),
  ShadowHost: defineSearchAttributeKey('ShadowHost', SdkSearchAttributeType.KEYWORD),
  PrimaryRegion: defineSearchAttributeKey('PrimaryRegion', SdkSearchAttributeType.KEYWORD),
  ShadowRegion: defineSearchAttributeKey('ShadowRegion', SdkSearchAttributeType.KEYWORD),
  PairPhase: defineSearchAttributeKey('PairPhase', SdkSearchAttributeType.KEYWORD),
  Paused: defineSearchAttributeKey('Paused', SdkSearchAttributeType.BOOL),
  RolloutId: defineSearchAttributeKey('RolloutId', SdkSearchAttributeType.KEYWORD),
  RolloutPhase: defineSearchAttributeKey('RolloutPhase', SdkSearchAttributeType.KEYWORD),
} as const satisfies Record<SearchAttributeName, unknown>;
