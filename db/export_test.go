package db

// Test hooks for the external tests of this package (package db_test, which can import
// internal/testenv without a cycle).
var InTx = inTx

// Conn is what the queries run on.
func (q *Queries) Conn() DBTX { return q.db }
