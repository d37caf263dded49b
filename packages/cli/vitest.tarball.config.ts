import { defineProject } from "vitest/config"

// The tarball test (pack, npm install outside the workspace, run the README there) in a
// project of its own that runs after every other project: its builds and install would
// otherwise take the CPU from timing-sensitive specs running beside it.
export default defineProject({
  test: {
    name: "tarball",
    include: ["tarball/**/*.test.ts"],
    sequence: { groupOrder: 1 }
  }
})
