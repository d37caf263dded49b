import { SessionRepository } from "../src/repository/SessionRepository.ts"
import { repositoryContract } from "./SessionRepository.contract.ts"

repositoryContract("memory", SessionRepository.layerMemory)
