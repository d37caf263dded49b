/**
 * session-store: a bounded, persistent-backed session and message store for
 * opencode, as an Effect 4 service layer.
 *
 * @since 0.1.0
 */
export * from "./domain/Errors.ts"
export * from "./domain/Ids.ts"
export * from "./monitor/MemoryMonitor.ts"
export * from "./domain/Message.ts"
export * from "./domain/Session.ts"
export * as SessionMemoryManager from "./facade/SessionMemoryManager.ts"
export * from "./repository/SessionRepository.ts"
export * from "./store/SessionStore.ts"
export * as StoreConfig from "./config/StoreConfig.ts"
export * from "./store/StoreEvents.ts"
export * as StoreMetrics from "./store/StoreMetrics.ts"
export * as SqliteClient from "./repository/sql/SqliteClient.ts"
export * as SqlRepository from "./repository/sql/sqlRepository.ts"
export * as SqlInspection from "./repository/sql/SqlInspection.ts"
