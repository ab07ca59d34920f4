package edge

import "testing"

func TestFitsInteger(t *testing.T) {
	t.Parallel()
	cases := []struct {
		n, format string
		want      bool
	}{
		{"0", "", true},
		{"9223372036854775807", "", true},
		{"-9223372036854775808", "", true},
		{"9223372036854775808", "", false},
		{"-9223372036854775809", "", false},
		{"18446744073709551616", "int64", false},
		{"1e18", "", true},
		{"1e19", "", false},
		{"1e400", "", false},
		{"60.0", "", true},
		{"1.5", "", true}, // not an integer: kin-openapi's to refuse
		{"2147483647", "int32", true},
		{"2147483648", "int32", false},
		{"-2147483648", "int32", true},
		{"-2147483649", "int32", false},
	}
	for _, tc := range cases {
		t.Run(tc.n+"/"+tc.format, func(t *testing.T) {
			t.Parallel()
			if got := fitsInteger(tc.n, tc.format); got != tc.want {
				t.Errorf("fitsInteger(%s, %q) = %v, want %v", tc.n, tc.format, got, tc.want)
			}
		})
	}
}
