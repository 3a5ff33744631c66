package mask

// Check-digit and shape tests of the numbers the text rules recognise. Each
// takes the digits only (separators already removed) and allocates nothing.

// Lengths of the numbers the text rules recognise.
const (
	cardMinDigits    = 13
	cardMaxDigits    = 19
	residentIDLength = 18
	mobileLength     = 11
	// A card number, a resident ID and a mobile number keep this many
	// leading and trailing digits visible.
	cardKeepHead   = 6
	cardKeepTail   = 4
	idKeepHead     = 6
	idKeepTail     = 4
	mobileKeepHead = 3
	mobileKeepTail = 4
)

// luhnValid reports whether the digits pass the Luhn (mod 10) check.
func luhnValid(digits []byte) bool {
	sum := 0
	double := false
	for i := len(digits) - 1; i >= 0; i-- {
		d := int(digits[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

// plausibleCard reports whether digits are a payment card number: 13 to 19
// digits passing the Luhn check. A leading 0 is refused: no card scheme
// issues numbers starting with 0 (ISO/IEC 7812 major industry identifier 0
// is not for cards), while zero-padded counters and hex dumps of zeros pass
// Luhn and would otherwise be masked by mistake.
func plausibleCard(digits []byte) bool {
	n := len(digits)
	if n < cardMinDigits || n > cardMaxDigits || digits[0] == '0' {
		return false
	}
	return luhnValid(digits)
}

// residentIDWeights are the GB 11643-1999 weights of the first 17 characters.
var residentIDWeights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

// residentIDCheckChars maps the weighted sum mod 11 to the check character.
const residentIDCheckChars = "10X98765432"

// validResidentID reports whether id (18 bytes: 17 digits and a digit or
// X/x) carries the right GB 11643 check character and a plausible date of
// birth. The date test is stricter than the check digit alone: one random
// 18-digit number in 11 passes the check, and long order numbers are common
// in logs, while every real ID has a real birth date.
func validResidentID(id []byte) bool {
	if len(id) != residentIDLength {
		return false
	}
	sum := 0
	for i, w := range residentIDWeights {
		if !isDigit(id[i]) {
			return false
		}
		sum += int(id[i]-'0') * w
	}
	check := id[17]
	if check == 'x' {
		check = 'X'
	}
	return check == residentIDCheckChars[sum%11] && plausibleBirthDate(id[6:14])
}

// plausibleBirthDate checks YYYYMMDD loosely: years 1800-2099, months
// 01-12, days 01-31.
func plausibleBirthDate(date []byte) bool {
	year := number(date[0:4])
	month := number(date[4:6])
	day := number(date[6:8])
	return year >= 1800 && year <= 2099 && month >= 1 && month <= 12 && day >= 1 && day <= 31
}

// validMobile reports whether digits are a mainland China mobile number:
// 11 digits starting with 1 and then 3 to 9.
func validMobile(digits []byte) bool {
	return len(digits) == mobileLength && digits[0] == '1' && digits[1] >= '3' && digits[1] <= '9'
}

// number returns the value of a short run of ASCII digits.
func number(digits []byte) int {
	n := 0
	for _, c := range digits {
		n = n*10 + int(c-'0')
	}
	return n
}
