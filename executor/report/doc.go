// Package report renders what users read: diagnostics, plans, progress and
// results as tables, CSV and JSON. Everything is written to an io.Writer;
// nothing here decides anything.
package report
