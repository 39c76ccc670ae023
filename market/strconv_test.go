package market

import "strconv"

func strconvItoa(v int64) string    { return strconv.FormatInt(v, 10) }
func strconvFloat(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
