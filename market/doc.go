// Package market is TickStock's market-data domain: ticks, the feeds that produce them
// (simulator, CSV replay, Polygon WebSocket), the detection Engine that turns ticks into
// high/low, trend and surge events, and the market summary per symbol set.
//
// It knows nothing of HTTP, SQL or users: the app wires a Feed into a Runner, drains the
// Runner's Batch every emit interval, and filters and renders the events per user.
//
// Detection runs on tick time only (SPEC section 4), so a replay of the same file always
// gives the same events. All event times are Unix milliseconds (type Millis), which is also
// how they appear in JSON.
//
// # Replaying your own CSV
//
// A replay file has the header "time,symbol,price,volume" and one tick per line, in time
// order. The time is RFC 3339 (2025-03-14T14:30:00.250Z) or Unix milliseconds
// (1741962600250); a bad line is logged with its line number and skipped:
//
//	time,symbol,price,volume
//	2025-03-14T14:30:00Z,AAPL,212.31,1200
//	1741962601000,MSFT,388.02,800
//
// Run it with TICKSTOCK_FEED=replay TICKSTOCK_REPLAY_FILE=ticks.csv, optionally
// TICKSTOCK_REPLAY_SPEED=10 (ten times the file's pace, 0 = as fast as possible) and
// TICKSTOCK_REPLAY_LOOP=true. market/testdata/sample.csv is a 15-minute example that
// produces every kind of event.
package market
