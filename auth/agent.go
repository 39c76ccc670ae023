package auth

import "strings"

// agentRules name a browser or program by a token of its User-Agent, most specific first:
// Edge and Opera also say "Chrome", Chrome also says "Safari".
var agentRules = []struct{ token, name string }{
	{"Edg/", "Edge"}, {"EdgA/", "Edge"}, {"EdgiOS/", "Edge"},
	{"OPR/", "Opera"}, {"Opera", "Opera"},
	{"SamsungBrowser/", "Samsung Internet"},
	{"Firefox/", "Firefox"}, {"FxiOS/", "Firefox"},
	{"HeadlessChrome/", "Headless Chrome"},
	{"CriOS/", "Chrome"}, {"Chromium/", "Chromium"}, {"Chrome/", "Chrome"},
	{"Version/", "Safari"}, // Safari says Version/x … Safari/y
	{"curl/", "curl"}, {"Wget/", "Wget"}, {"Go-http-client/", "Go program"},
	{"python-requests/", "Python program"}, {"python-httpx/", "Python program"},
}

// osRules name the system, most specific first: iPhones also say "Mac OS X", Android
// also says "Linux".
var osRules = []struct{ token, name string }{
	{"iPhone", "iPhone"}, {"iPad", "iPad"}, {"Android", "Android"},
	{"Windows", "Windows"}, {"CrOS", "ChromeOS"}, {"Macintosh", "macOS"}, {"Mac OS X", "macOS"},
	{"Linux", "Linux"},
}

// DescribeAgent says which browser a User-Agent header names, in a few words ("Firefox on
// Windows", "Safari on iPhone", "curl"), so a user can tell their sessions apart. Only this
// summary is stored with a session, never the header, which can be long and identifying.
func DescribeAgent(ua string) string {
	ua = ua[:min(len(ua), 512)]
	browser := ""
	for _, r := range agentRules {
		if strings.Contains(ua, r.token) {
			browser = r.name
			break
		}
	}
	if browser == "" && strings.Contains(ua, "Safari/") && strings.Contains(ua, "Mobile") {
		browser = "Safari" // some in-app views drop Version/
	}
	system := ""
	for _, r := range osRules {
		if strings.Contains(ua, r.token) {
			system = r.name
			break
		}
	}
	switch {
	case browser != "" && system != "":
		return browser + " on " + system
	case browser != "":
		return browser
	case system != "":
		return "A browser on " + system
	}
	return "Unknown browser"
}
