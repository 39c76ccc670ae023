package views

// Dashboard is the dashboard's view model.
type Dashboard struct {
	StreamURL string
}
