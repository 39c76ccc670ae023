//go:build race

package main

// raceBuild: the test binary runs under the race detector, so the processes it starts do too.
const raceBuild = true
