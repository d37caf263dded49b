/**
 * session-store: a bounded, persistent-backed session and message store for
 * opencode, as an Effect 4 service layer.
 *
 * @since 0.1.0
 */
export * from "./Errors.ts"
export * from "./Ids.ts"
export * from "./MemoryMonitor.ts"
export * from "./Message.ts"
export * from "./Session.ts"
export * as SessionMemoryManager from "./SessionMemoryManager.ts"
export * from "./SessionRepository.ts"
export * from "./SessionStore.ts"
export * as StorageInspection from "./StorageInspection.ts"
export * as StoreConfig from "./StoreConfig.ts"
export * from "./StoreEvents.ts"
export * as StoreMetrics from "./StoreMetrics.ts"
export * as SqliteClient from "./repository/sql/SqliteClient.ts"
export * as SqlRepository from "./repository/sql/sqlRepository.ts"
