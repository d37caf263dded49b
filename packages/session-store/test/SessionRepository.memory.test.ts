import { SessionRepository } from "../src/SessionRepository.ts"
import { repositoryContract } from "./SessionRepository.contract.ts"

repositoryContract("memory", SessionRepository.layerMemory)
