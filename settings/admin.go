package settings

import (
	"context"

	"github.com/tickstock/tickstock/db"
)

// Recorder runs inside an admin's save, after the change and in its transaction, with the
// values before and after it; an error rolls the save back. The admin handlers write the
// audit entry here, so a change and its entry are stored together or not at all.
type Recorder func(ctx context.Context, q *db.Queries, before, after any) error

// txFunc runs fn in a transaction.
type txFunc func(ctx context.Context, fn func(*db.Queries) error) error

// asUser runs transactions as userID: row-level security shows only their rows.
func (s *Service) asUser(userID int64) txFunc {
	return func(ctx context.Context, fn func(*db.Queries) error) error {
		return db.WithUser(ctx, s.pool, userID, fn)
	}
}

// asSystem runs transactions that act for no single user: an admin's, whose audit entry
// only the system may write. Every settings query names its user, so the change still
// touches only userID's rows.
func (s *Service) asSystem() txFunc {
	return func(ctx context.Context, fn func(*db.Queries) error) error {
		return db.WithSystem(ctx, s.pool, fn)
	}
}

// AdminSaveSelection is SaveSelection made by an admin for userID, with the same
// validation; rec gets both trackers' Selections before and after.
func (s *Service) AdminSaveSelection(ctx context.Context, userID int64, tracker string, universes []string, rec Recorder) (Selections, error) {
	return s.saveSelection(ctx, userID, tracker, universes, s.asSystem(), rec)
}

// AdminSaveFilters is SaveFilters made by an admin for userID, with the same validation;
// rec gets the Filters before and after.
func (s *Service) AdminSaveFilters(ctx context.Context, userID int64, f Filters, rec Recorder) (Filters, error) {
	return s.saveFilters(ctx, userID, f, s.asSystem(), rec)
}
