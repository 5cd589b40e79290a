package dataset

import "strings"

// vocabulary holds the words synthetic prompts are made of: 1,024 common
// lowercase English words, each encoded as exactly one token, both with
// and without a leading space, by cl100k (GPT-4), Llama-3, Qwen2 (and
// Qwen3, which shares its vocabulary), Gemma 3 and Mistral's 32k
// SentencePiece vocabulary. They are the first 1,024 words, by cl100k merge
// rank (a proxy for frequency), of SCOWL's size-10 English word list that
// pass that check in all five, less a few word fragments and words that
// might trip a content filter. A text of n of them joined by single spaces
// is n tokens in each of those tokenizers, before any special or template
// tokens.
//
// The list is part of the output format: changing a word changes every
// synthetic prompt for every seed.
var vocabulary = strings.Fields(`
a ability able about above accept access according account act action actions active activity
actual actually add added additional address after again against age ago air all allow allowed
allows almost along already also always am among amount an analysis and another answer any
anything appear application apply are area areas argument arguments around art article as ask
associated at attempt author available average avoid away back background bad ball bank bar base
based be beautiful because bed been before begin being below best better between big bill bit
black block blue board body book both bottom box break bring buffer build building built bus
business but button buy by byte bytes call called came campaign can cannot car card care case
cases catch category cause cell cent center change changed changes channel char character
characters check child children choice choose city claim class clean clear close club code
collection color column come comes coming command comment comments common community company
complete complex component computer condition conditions connect connection consider contact
contains content context continue contract control convert copy core correct cost could count
counter country course court cover create created cross current currently customer cut damage
dark data database date day days deal decision deep default defined delete deliver description
design details develop development device did different direct direction directory disc display
distance distributed do document does dog doing done door double down draw driver drop due
during each early easy edit editor effect effects either elect election element elements else
empty end ensure enter entity entry environment equal error errors especially establish even
event events ever every everyone everything exact example except exception exist existing expect
expected experience expert express extends extra eyes face fact fail failed fall false family
far fast favor feature features feed feel few field fields file files fill film final finally
financial find finish fire first fit five fix flag float floor flow follow following food foot
for force form format former forward found four frame free friend friends from front full fun
function functions fund future game games general get gets getting girl give given global go
going good got government graph great green ground group groups grow had half hand handle hands
happy hard has have having he head header health heart held help her here high higher him his
history hit hold home hope host hot hours house how however human idea if image images impact
implement important in include included includes including increase index individual industry
info inform information initial input insert inside install instance instead interest interface
internal into is issue issues it item items its job join just keep key kind know known label
land language large last late later latest law lead leading learn least leave led left leg legal
length less let level levels life light like likely limit line lines link list little live
living load local location lock log long look looking looks loop loss lost lot love low lower
machine made main major make makes making man many map mark market mass match material matter
may me mean means media meet meeting member members memory men mention message met method
methods middle might million mind minutes miss mode model models modify moment money month
months more most move movie much multiple music must my name names national natural near
necessary need needed needs net network never new news next nice night no nor normal not note
nothing notice now number numbers object objects of off offer offers office official often oil
old on once one ones only open operation operator option options or order origin original other
others otherwise our out output outside over own owner pack package page paper parent park part
parts party pass passed past path pattern pay pen people per perfect perform performance period
person personal phone pick place plan plant play played playing please plus point points policy
political pop popular port position possible post potential power present press pretty prevent
previous price primary print prior private probably problem problems process product production
products program progress project proper properties property protect protected provide provided
public publish published push put quality question questions quick quite raise random range rate
rather reach read reading ready real really reason receive received recent record red reference
region register regular related relationship release released remember remove report reported
represent request require required research reserved resource resources respect respond response
rest result results return returned returns review right rights risk road role room root round
route row rule rules run running safe said sale same sample save say says scale scene school
score screen script search season second secret section security see seek seen select selected
self sell send sense sent serial series serious server service services session set setting
shall shape share shared she shift short should show shows side sign significant similar simple
since single sit site six size sleep slow small so social software sold solid solution some
someone something son soon sort sound source space special specific specified speed staff stage
stand standard start started starting state statement states status stay step still stock stop
storage store story stream string strong structure student students study stuff style subject
success such suggest sum support sure switch system systems table take taken takes taking talk
target task tax team technology tell ten term terms test text than that the their them then
there these they thing things think third this those though thought three through throw throws
time times title to today token too took top total touch town track train training travel tree
true try trying turn two type types under unique unit until up update updated upon us use used
user users uses using usually valid value values van variable vector version very via video view
views visit wait walk want wanted was watch water way ways we week weeks weight well went were
what when where whether which while white who whole why will win window wish with within without
woman women won word words work worked working works world worth would write writing written
wrong year years yet you young your
`)

// vocabSize is a power of two so that one draw's top bits pick a word
// without bias.
const vocabSize = 1024

// vocabBits is log2(vocabSize).
const vocabBits = 10

// common holds the vocabulary's words, for the token estimate; wordIndex
// their positions.
var common, wordIndex = func() (map[string]bool, map[string]int) {
	m := make(map[string]bool, len(vocabulary))
	idx := make(map[string]int, len(vocabulary))
	for i, w := range vocabulary {
		m[w] = true
		idx[w] = i
	}
	return m, idx
}()
