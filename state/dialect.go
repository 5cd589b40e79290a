package state

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
)

// dialect is what sets the SQL of one database apart from what this
// package writes once for every database: queries with ? placeholders,
// rebound to the database's own, and the few expressions that differ.
type dialect interface {
	// rebind turns a query's ? placeholders into the database's.
	rebind(query string) string
	// incremented is column plus one, for the serial kept in meta.
	incremented(column string) string
	// serialValue is the serial as meta keeps it.
	serialValue(n int64) any
}

// sqliteDialect is SQLite's, the SQL as written.
type sqliteDialect struct{}

func (sqliteDialect) rebind(q string) string           { return q }
func (sqliteDialect) incremented(column string) string { return column + " + 1" }
func (sqliteDialect) serialValue(n int64) any          { return n }

// postgresDialect is PostgreSQL's: numbered placeholders, and meta's
// values are text.
type postgresDialect struct{}

// rebind numbers the placeholders in order. No query of this package has
// a ? inside a literal, so every ? is a placeholder.
func (postgresDialect) rebind(q string) string {
	if !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (postgresDialect) serialValue(n int64) any { return strconv.FormatInt(n, 10) }

func (postgresDialect) incremented(column string) string {
	return "(" + column + "::bigint + 1)::text"
}

// exec runs a statement that writes; on PostgreSQL it waits out a lost
// connection. After the state lock was lost it writes nothing.
func (s *Store) exec(q string, args ...any) (sql.Result, error) {
	if err := s.writable(); err != nil {
		return nil, err
	}
	var res sql.Result
	err := s.retrying(func() (err error) {
		res, err = s.db.Exec(s.d.rebind(q), args...)
		return err
	})
	return res, err
}

// writable is nil unless the state lock was lost, and then says why.
func (s *Store) writable() error {
	if p := s.lost.Load(); p != nil {
		return *p
	}
	return nil
}

func (s *Store) query(q string, args ...any) (*sql.Rows, error) {
	return s.db.Query(s.d.rebind(q), args...)
}

func (s *Store) queryRow(q string, args ...any) *sql.Row {
	return s.db.QueryRow(s.d.rebind(q), args...)
}

// begin starts a transaction whose statements are rebound as the Store's.
func (s *Store) begin(ctx context.Context) (*txn, error) {
	if err := s.writable(); err != nil {
		return nil, err
	}
	var tx *sql.Tx
	err := s.retrying(func() (err error) {
		tx, err = s.db.BeginTx(ctx, nil)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &txn{Tx: tx, d: s.d}, nil
}

// txn is a transaction that rebinds its statements.
type txn struct {
	*sql.Tx
	d dialect
}

func (t *txn) Exec(q string, args ...any) (sql.Result, error) {
	return t.Tx.Exec(t.d.rebind(q), args...)
}

func (t *txn) Query(q string, args ...any) (*sql.Rows, error) {
	return t.Tx.Query(t.d.rebind(q), args...)
}

func (t *txn) QueryRow(q string, args ...any) *sql.Row {
	return t.Tx.QueryRow(t.d.rebind(q), args...)
}

func (t *txn) Prepare(q string) (*sql.Stmt, error) {
	return t.Tx.Prepare(t.d.rebind(q))
}
