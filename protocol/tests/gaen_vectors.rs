//! Known-answer tests of the GAEN key schedule against every value of
//! `shared/vectors/gaen.json` (copied below as constants), plus property tests of the batched
//! derivation, AEM, metadata and the matching window.

use aes::Aes128;
use ctr::cipher::{KeyIvInit, StreamCipher};
use enmesh_protocol::gaen::{
    Aem, AemKey, CalibrationConfidence, DayRpis, MATCH_TOLERANCE_INTERVALS, Metadata, RPIS_PER_KEY,
    Rpi, RpiKey, Tek, key_valid_at, padded_data, sighting_matches,
};
use enmesh_protocol::interval::{IntervalNumber, RollingPeriod};
use proptest::prelude::*;

/// `tek` of gaen.json.
const TEK: &str = "75c734c6dd1a782de7a965da5eb93125";
/// `enin_of_key` of gaen.json: the key's rolling start.
const ROLLING_START: u32 = 2642976;
/// `rpik` of gaen.json.
const RPIK: &str = "185ad91db69ec7dd048960f1f3ba6175";
/// `aemk` of gaen.json.
const AEMK: &str = "d57c46af7a1d83965b9bed8bd152936a";
/// `metadata` of gaen.json: version 0x40 (v1.0), tx power 8 dBm.
const METADATA: &str = "40080000";
/// `derived_example_ble_advertising_data.hex` of gaen.json (Flags, UUID list, service data).
const ADVERTISEMENT: &str = "02011a03036ffd17166ffd8be6cd371c5c891604bfbe49df84509672033874";

/// `intervals` of gaen.json: (padded_data, rpi, aem) for intervals ROLLING_START + 0..144.
const INTERVALS: [(&str, &str, &str); 144] = [
    (
        "454e2d52504900000000000020542800",
        "8be6cd371c5c891604bfbe49df845096",
        "72033874",
    ),
    (
        "454e2d52504900000000000021542800",
        "3c9a1de5dd6b02afa7fded7b570b3e56",
        "c29211b1",
    ),
    (
        "454e2d52504900000000000022542800",
        "243ffe9a3b08bded3094bac8630bb8ad",
        "6adfad03",
    ),
    (
        "454e2d52504900000000000023542800",
        "dfc3ed265e97d0eabb630e168b4214ed",
        "f1e2f80b",
    ),
    (
        "454e2d52504900000000000024542800",
        "b3b85a69ebaec78db739852d1f34e0fa",
        "5668c474",
    ),
    (
        "454e2d52504900000000000025542800",
        "298abd6fdad29efbf0f85a63956cf188",
        "f7b97e84",
    ),
    (
        "454e2d52504900000000000026542800",
        "105e8221dd603d25b94aba0c3cc8dee1",
        "eeabfdc7",
    ),
    (
        "454e2d52504900000000000027542800",
        "9888ca7e6738ec4bc6e420b20f878b3a",
        "9f84a9a6",
    ),
    (
        "454e2d52504900000000000028542800",
        "8694a79ae99671be3f18aaf6b090657a",
        "c11acb4d",
    ),
    (
        "454e2d52504900000000000029542800",
        "b8cde28ad20d1cd2fdd7369dc0c6f7c8",
        "1f8d53de",
    ),
    (
        "454e2d5250490000000000002a542800",
        "f60123c67bd2fc4b62002b4b7d595ba6",
        "e0a7f9f2",
    ),
    (
        "454e2d5250490000000000002b542800",
        "8a84c86e05f7a8772aae7a80686e1a1c",
        "f4b7b09d",
    ),
    (
        "454e2d5250490000000000002c542800",
        "ac461bf2b93b0d90841746f51aded6c0",
        "7391dd64",
    ),
    (
        "454e2d5250490000000000002d542800",
        "f2567eed0aa1cdf2cd3d0bd28252f196",
        "127db09e",
    ),
    (
        "454e2d5250490000000000002e542800",
        "a255225baa9e37b730a95f997a6972f5",
        "435ea556",
    ),
    (
        "454e2d5250490000000000002f542800",
        "04cfaee41021cb7d4d020b306b24bea8",
        "dc1f1906",
    ),
    (
        "454e2d52504900000000000030542800",
        "f5372bbc92f7805964701e879b48d431",
        "b3eaafdd",
    ),
    (
        "454e2d52504900000000000031542800",
        "f2c811546382b10df1ac06c32c617ba7",
        "cd5186f9",
    ),
    (
        "454e2d52504900000000000032542800",
        "f8f3441f76223dac15ec6b35fdb25140",
        "7f387e7f",
    ),
    (
        "454e2d52504900000000000033542800",
        "d07183db3c8045087d61ee9e730c9306",
        "1a42a15b",
    ),
    (
        "454e2d52504900000000000034542800",
        "c742dd9c96a3e6fa7c4f22621dacc24d",
        "06390ded",
    ),
    (
        "454e2d52504900000000000035542800",
        "082333fad9fa292ab899d6000c659797",
        "0f01bcd7",
    ),
    (
        "454e2d52504900000000000036542800",
        "be4300dafb8d07c88cb2b5077a061166",
        "c7bfbb92",
    ),
    (
        "454e2d52504900000000000037542800",
        "5fed1b4d3b3a13332f05447560352632",
        "217c8e4a",
    ),
    (
        "454e2d52504900000000000038542800",
        "fd1ee2cc5c60e6eee61f04919f6759a7",
        "ee639bd6",
    ),
    (
        "454e2d52504900000000000039542800",
        "96adf5b8dc7ee75df46fbd8a1fc4ad0d",
        "608c130f",
    ),
    (
        "454e2d5250490000000000003a542800",
        "fa4ba2206d42a1c80d5248ae688309a4",
        "74b2c873",
    ),
    (
        "454e2d5250490000000000003b542800",
        "a590f95dbf240261da101a7cdb24dbba",
        "956a95eb",
    ),
    (
        "454e2d5250490000000000003c542800",
        "67e81b91d1cf9e0958135429dad01e82",
        "c6fa3c7a",
    ),
    (
        "454e2d5250490000000000003d542800",
        "183cac2236c3e0533be4704d836e4755",
        "a2abc703",
    ),
    (
        "454e2d5250490000000000003e542800",
        "341162551c29319bc53538edfcf23040",
        "8009b2aa",
    ),
    (
        "454e2d5250490000000000003f542800",
        "2251687018214b65dd8ee83eaed330ab",
        "cfe804cb",
    ),
    (
        "454e2d52504900000000000040542800",
        "a4cf6e50215fe278cc5cff1b0534a3e0",
        "cb2a7e22",
    ),
    (
        "454e2d52504900000000000041542800",
        "df8f2ac303232b2e5b3efd8681aaa8dd",
        "6503a727",
    ),
    (
        "454e2d52504900000000000042542800",
        "ba2e75d7f48cf55c0c868fd45cf16b5c",
        "8f29787e",
    ),
    (
        "454e2d52504900000000000043542800",
        "ec6a40058debffff3c51977f24562e21",
        "b2add3b7",
    ),
    (
        "454e2d52504900000000000044542800",
        "6a68e30b2fb93b5df78ee3a9a350a6ce",
        "1bfb460a",
    ),
    (
        "454e2d52504900000000000045542800",
        "8d33a70562629994f8df99052b0eb69a",
        "8ecf077b",
    ),
    (
        "454e2d52504900000000000046542800",
        "21053ccb8f925111e254bd694e97946b",
        "2ba77b38",
    ),
    (
        "454e2d52504900000000000047542800",
        "e1c9cdf20f900ae6d24bf7bcb4e66135",
        "8c1240de",
    ),
    (
        "454e2d52504900000000000048542800",
        "baf789f550946b431064450771b2a143",
        "438999b6",
    ),
    (
        "454e2d52504900000000000049542800",
        "f7f91ec25085d0353e0278e598cc6201",
        "1dcbdc6e",
    ),
    (
        "454e2d5250490000000000004a542800",
        "c8933d70220ba9c8c148393a3959d256",
        "6385ffda",
    ),
    (
        "454e2d5250490000000000004b542800",
        "f2932e6e6ef60f0f5bbce439100a90e4",
        "696c0cdf",
    ),
    (
        "454e2d5250490000000000004c542800",
        "18f5d8102a5930d80230f2c39a4266d6",
        "63842bba",
    ),
    (
        "454e2d5250490000000000004d542800",
        "e6075c28939fb0c67246ce38c5ff938a",
        "b7e22c60",
    ),
    (
        "454e2d5250490000000000004e542800",
        "66168862bc445f48e5b0ed07e1df3f5a",
        "d2e7d6d8",
    ),
    (
        "454e2d5250490000000000004f542800",
        "1d0a01c38da4ac41ec7a638f5df705a9",
        "91be922c",
    ),
    (
        "454e2d52504900000000000050542800",
        "a737001a2d2f802c64789a9952e6d1a7",
        "7e0421bb",
    ),
    (
        "454e2d52504900000000000051542800",
        "7c3725b6084e681fb34d26c3a394a643",
        "7ea5209f",
    ),
    (
        "454e2d52504900000000000052542800",
        "26d1f836557a259a81b5db5419c6a729",
        "1c920628",
    ),
    (
        "454e2d52504900000000000053542800",
        "ebc2a6062854d1ec627b1f6e8432e166",
        "4a764632",
    ),
    (
        "454e2d52504900000000000054542800",
        "113274e80c31cfcd81c2ad0864445178",
        "69a749b6",
    ),
    (
        "454e2d52504900000000000055542800",
        "4567976c48be725906247d0bd81bb811",
        "6f9485db",
    ),
    (
        "454e2d52504900000000000056542800",
        "748154ba523a1aa810b7062a13e5aa68",
        "74780723",
    ),
    (
        "454e2d52504900000000000057542800",
        "30bceb3345745153352365998587cd10",
        "8917da61",
    ),
    (
        "454e2d52504900000000000058542800",
        "8f2d7b8700a82fd4514dfa4202ee298f",
        "fec4f8b1",
    ),
    (
        "454e2d52504900000000000059542800",
        "0e664953700cdfc0d2792fadf07329eb",
        "781a3eaf",
    ),
    (
        "454e2d5250490000000000005a542800",
        "f44958c4dd70d9968a26fd60ba927290",
        "b9759b61",
    ),
    (
        "454e2d5250490000000000005b542800",
        "55fd2f6cbde0e13fd22c0b3db16228e5",
        "483c9410",
    ),
    (
        "454e2d5250490000000000005c542800",
        "49f3f9d12469dcc9ed356364c30066e4",
        "2da6ebac",
    ),
    (
        "454e2d5250490000000000005d542800",
        "c57d2d6e0d25a0651cd72786f8c951ce",
        "43eacf34",
    ),
    (
        "454e2d5250490000000000005e542800",
        "88ef256351ac49dfd15ab5a2de97c013",
        "b9a13653",
    ),
    (
        "454e2d5250490000000000005f542800",
        "d0fb6fd6db89da52361f1a30fb436ce7",
        "356dea55",
    ),
    (
        "454e2d52504900000000000060542800",
        "8a42a330f01928e51631231981603fd5",
        "3505b7f3",
    ),
    (
        "454e2d52504900000000000061542800",
        "6e51b2a2aecbab1df80826ef6d1e1958",
        "5c05cd94",
    ),
    (
        "454e2d52504900000000000062542800",
        "3ce681a28b1be19c9e36b9c580b123ab",
        "984745d6",
    ),
    (
        "454e2d52504900000000000063542800",
        "1e958ed89b86b98977f79e1b83f3d05f",
        "93fdf708",
    ),
    (
        "454e2d52504900000000000064542800",
        "1d667b01d6634b5f3b6f33ac4b150d23",
        "d70f744c",
    ),
    (
        "454e2d52504900000000000065542800",
        "67f222156c517debc07068cbc5eec1dd",
        "60578c31",
    ),
    (
        "454e2d52504900000000000066542800",
        "a8454b9c947d1625ee3fba2607c23aff",
        "7900eead",
    ),
    (
        "454e2d52504900000000000067542800",
        "416ffc7a32fcfda9a316d01790e31945",
        "c122ad68",
    ),
    (
        "454e2d52504900000000000068542800",
        "c19a30c39c9c3a089bcadde1c6699447",
        "340aa382",
    ),
    (
        "454e2d52504900000000000069542800",
        "786ddfae6fc77c4c410c4ec32d34247d",
        "67c60dfb",
    ),
    (
        "454e2d5250490000000000006a542800",
        "ef0fd3a95b9661e1fccb4e30cde32c51",
        "4556b673",
    ),
    (
        "454e2d5250490000000000006b542800",
        "fc1f8a66f405ccb63dc3e48207da7788",
        "9e4f1db4",
    ),
    (
        "454e2d5250490000000000006c542800",
        "0eacc28631b10f4498368666130ff0c9",
        "5be04e9d",
    ),
    (
        "454e2d5250490000000000006d542800",
        "e8db4a4626385ae6e3b2451d0a66edbf",
        "806af2f9",
    ),
    (
        "454e2d5250490000000000006e542800",
        "c600678d4fbe9245ad4973b1c8971bc5",
        "7af8d4fd",
    ),
    (
        "454e2d5250490000000000006f542800",
        "081926c361834c5c1d4319b840f315ae",
        "fc8dddd0",
    ),
    (
        "454e2d52504900000000000070542800",
        "1d829eafa04232a6bb4d3c2022ac3d0f",
        "da881568",
    ),
    (
        "454e2d52504900000000000071542800",
        "798abce8c8f62510de595a9973fb218e",
        "1395cf7b",
    ),
    (
        "454e2d52504900000000000072542800",
        "61fc0deb47084fdaf1483e342d73b148",
        "d9e25db6",
    ),
    (
        "454e2d52504900000000000073542800",
        "4969edd40f3eab468b8a8d49685a4edd",
        "c1b20597",
    ),
    (
        "454e2d52504900000000000074542800",
        "1d69d6d4158a318f1d9cafba13587017",
        "eb539199",
    ),
    (
        "454e2d52504900000000000075542800",
        "ab7c61f1cca813fd36e8f1b1e5df6a0f",
        "c81ab854",
    ),
    (
        "454e2d52504900000000000076542800",
        "94f24fdec17aa31f74f202ae4a6874be",
        "46ee82dc",
    ),
    (
        "454e2d52504900000000000077542800",
        "6e5de02579d3dfb194cc7bd49270253d",
        "8a0528bd",
    ),
    (
        "454e2d52504900000000000078542800",
        "fe3e1e3621773f188040aa5db3ff1d4e",
        "28033aae",
    ),
    (
        "454e2d52504900000000000079542800",
        "d7376e0d77255de23d540f027183f1ba",
        "a01ce712",
    ),
    (
        "454e2d5250490000000000007a542800",
        "64a71e48a50e7b5a37ac91816e2b0f53",
        "c9cb8c70",
    ),
    (
        "454e2d5250490000000000007b542800",
        "0f22a2c0b699e189d59e30d1745d67d3",
        "dbe68f47",
    ),
    (
        "454e2d5250490000000000007c542800",
        "de876baf31228e3b7fe0f08e1f38ea7b",
        "4cb1d94f",
    ),
    (
        "454e2d5250490000000000007d542800",
        "8c6927bcf5f7aee1eed8abbe43e2e2d1",
        "27740632",
    ),
    (
        "454e2d5250490000000000007e542800",
        "bc96830f182a72c89e65cea9c47d88c0",
        "e8adeb6d",
    ),
    (
        "454e2d5250490000000000007f542800",
        "7b2fbe746dd2da86e9866a0e6aadbc4d",
        "e53a5ac7",
    ),
    (
        "454e2d52504900000000000080542800",
        "93e20f14a13d56567594aa962350f170",
        "943242a4",
    ),
    (
        "454e2d52504900000000000081542800",
        "9e3814f951fa03796b9a66f89a9f400d",
        "0648dc89",
    ),
    (
        "454e2d52504900000000000082542800",
        "95fa09845aa8d4b60047faf99aebca0c",
        "855e31b3",
    ),
    (
        "454e2d52504900000000000083542800",
        "ef0a7579331853b9ebc250b4d6f3ebcc",
        "9c1f07c2",
    ),
    (
        "454e2d52504900000000000084542800",
        "7fe9a90de00c9f0737d3b45fda651115",
        "984e1ff3",
    ),
    (
        "454e2d52504900000000000085542800",
        "443b7b5ab9a86a1fee67e18cb8c40764",
        "b3fba7e1",
    ),
    (
        "454e2d52504900000000000086542800",
        "e8a6fa9a5ca9fb061c4cdbe217c61d59",
        "3b6d9de8",
    ),
    (
        "454e2d52504900000000000087542800",
        "087a08040686fd635ef389752741cc1f",
        "f085551c",
    ),
    (
        "454e2d52504900000000000088542800",
        "587c0486644ceb2d0b7ebdd39dd3a860",
        "0a6b326e",
    ),
    (
        "454e2d52504900000000000089542800",
        "dd827ba60f8a35b1dd4e4cdfe49c4263",
        "81eb20e2",
    ),
    (
        "454e2d5250490000000000008a542800",
        "cf234000080a4e8da8feb533aa5904d3",
        "34d86ee5",
    ),
    (
        "454e2d5250490000000000008b542800",
        "c50fb1ec3ef54e916178ca9d56ee4f5c",
        "eaeac3d2",
    ),
    (
        "454e2d5250490000000000008c542800",
        "d45fde46f467d76ed28dd4d2496dcb7f",
        "eaa64a8e",
    ),
    (
        "454e2d5250490000000000008d542800",
        "e9baf81c961f510d08a663c7524f36df",
        "1e2ca37b",
    ),
    (
        "454e2d5250490000000000008e542800",
        "e3b02cc031e144fae61a3899501b4921",
        "44c0d706",
    ),
    (
        "454e2d5250490000000000008f542800",
        "a75eea58232e7366cea1a0e72da0cec5",
        "5a8c79b7",
    ),
    (
        "454e2d52504900000000000090542800",
        "6ad7621fe1da0139ff8bad7f379cabf6",
        "279f16b1",
    ),
    (
        "454e2d52504900000000000091542800",
        "6fe2ac45f65c8ac69fdc5ef7fa9ff7f0",
        "4bd907aa",
    ),
    (
        "454e2d52504900000000000092542800",
        "2fbec68fd27ddddb4223044efc779851",
        "2df6c5eb",
    ),
    (
        "454e2d52504900000000000093542800",
        "32bf688a7c834be1bfab7c8e0e580adb",
        "66852d43",
    ),
    (
        "454e2d52504900000000000094542800",
        "dae3a7d8c62427b09c0e7bbf489d34bd",
        "836d3b95",
    ),
    (
        "454e2d52504900000000000095542800",
        "3c4b02bd5ed28c67829c97791079afd2",
        "2735b997",
    ),
    (
        "454e2d52504900000000000096542800",
        "e2faeac3dbd150ec8ea8e7b3e5bb8454",
        "d71f97c2",
    ),
    (
        "454e2d52504900000000000097542800",
        "69942a7213eaf3c14a69996ba6c6bfeb",
        "53bc4db5",
    ),
    (
        "454e2d52504900000000000098542800",
        "1c5c4dd25452e97dd187dd7ce1d1ee81",
        "48a4d379",
    ),
    (
        "454e2d52504900000000000099542800",
        "fbf5607a7c612aced160e755a987262d",
        "b78dc1f5",
    ),
    (
        "454e2d5250490000000000009a542800",
        "3e2de13070f27443d9ba3eb43f9a71ea",
        "582170ca",
    ),
    (
        "454e2d5250490000000000009b542800",
        "8a12d25f006fab5a2707da9e6c4e96be",
        "939594cc",
    ),
    (
        "454e2d5250490000000000009c542800",
        "6fd98c22e227838e6f67369764437725",
        "c14f5b11",
    ),
    (
        "454e2d5250490000000000009d542800",
        "3da212aebdb78ba819809d03c6cf56e2",
        "300912da",
    ),
    (
        "454e2d5250490000000000009e542800",
        "8c48da73e29effc9b74bb097096e0a0a",
        "ce79c50a",
    ),
    (
        "454e2d5250490000000000009f542800",
        "e53c68b4b01c68f37e65a0dc8e67f45d",
        "e04f3867",
    ),
    (
        "454e2d525049000000000000a0542800",
        "8331dde6364b119527af76fee17aabcf",
        "64187bdf",
    ),
    (
        "454e2d525049000000000000a1542800",
        "8c14471f5571926396dde6f7b7b35b56",
        "e87c05fd",
    ),
    (
        "454e2d525049000000000000a2542800",
        "4eb6b2deb40e5ec9bc39838102a4f4f9",
        "4e708325",
    ),
    (
        "454e2d525049000000000000a3542800",
        "77f2141ceffd0aa3bee4b67c450d9aa6",
        "a157eb59",
    ),
    (
        "454e2d525049000000000000a4542800",
        "043d78e20cb59c0bcb1578ff93ea544a",
        "8d30432a",
    ),
    (
        "454e2d525049000000000000a5542800",
        "65b8ecc4561c1cca053d814ffd8961d4",
        "5b243890",
    ),
    (
        "454e2d525049000000000000a6542800",
        "32f25a1724f2bdcad05abc1482e1329e",
        "7490d211",
    ),
    (
        "454e2d525049000000000000a7542800",
        "203ba3f3f7230266b993b3ee7b2d8608",
        "1f019df2",
    ),
    (
        "454e2d525049000000000000a8542800",
        "e5e7a47069216e1a887b90ef0394a35c",
        "99e612b7",
    ),
    (
        "454e2d525049000000000000a9542800",
        "3ffc8bb91dbcd8ee924948f5080b190d",
        "264a577e",
    ),
    (
        "454e2d525049000000000000aa542800",
        "32375391077fbf7686bafa7dc156be1c",
        "a811ba62",
    ),
    (
        "454e2d525049000000000000ab542800",
        "a8904965aec5ddb655e97007d223db48",
        "2b483321",
    ),
    (
        "454e2d525049000000000000ac542800",
        "415cf7af1dc9feacb3978488f5046893",
        "e2ef537e",
    ),
    (
        "454e2d525049000000000000ad542800",
        "86f8ddc0c93e53e3a582e61f01f7df2f",
        "711dbf6d",
    ),
    (
        "454e2d525049000000000000ae542800",
        "a65ef7ba9752c4173ba48a33849c5e52",
        "592dbca8",
    ),
    (
        "454e2d525049000000000000af542800",
        "f431b62ecf443102ce4ed0407de54bd4",
        "1215e57e",
    ),
];

fn bytes<const N: usize>(hex_text: &str) -> [u8; N] {
    hex::decode(hex_text).unwrap().try_into().unwrap()
}

fn tek() -> Tek {
    Tek(bytes(TEK))
}

/// The AEM the `ctr` crate computes: AES-128-CTR, key AEMK, initial counter block = RPI.
fn ctr_crate_aem(aemk: [u8; 16], rpi: &Rpi, data: [u8; 4]) -> [u8; 4] {
    let mut out = data;
    ctr::Ctr128BE::<Aes128>::new(&aemk.into(), &rpi.0.into()).apply_keystream(&mut out);
    out
}

#[test]
fn rpik_and_aemk() {
    assert_eq!(RpiKey::derive(&tek()).to_bytes(), bytes(RPIK));
    assert_eq!(AemKey::derive(&tek()).to_bytes(), bytes(AEMK));
}

#[test]
fn padded_data_of_all_144_intervals() {
    for (i, (padded, _, _)) in (0u32..).zip(INTERVALS) {
        assert_eq!(
            padded_data(IntervalNumber(ROLLING_START + i)),
            bytes(padded),
            "interval {i}"
        );
    }
}

#[test]
fn rpi_one_by_one_all_144() {
    let key = RpiKey::derive(&tek());
    for (i, (_, rpi, _)) in (0u32..).zip(INTERVALS) {
        assert_eq!(
            key.rpi(IntervalNumber(ROLLING_START + i)),
            Rpi(bytes(rpi)),
            "interval {i}"
        );
    }
}

#[test]
fn rpis_batched_all_144() {
    let day = RpiKey::derive(&tek())
        .day_rpis(IntervalNumber(ROLLING_START))
        .unwrap();
    assert_eq!(day.rolling_start(), IntervalNumber(ROLLING_START));
    let derived: Vec<_> = day.iter().collect();
    let expected: Vec<_> = (0u32..)
        .zip(INTERVALS)
        .map(|(i, (_, rpi, _))| (IntervalNumber(ROLLING_START + i), Rpi(bytes(rpi))))
        .collect();
    assert_eq!(derived, expected);
    assert_eq!(day.get(143), Some(Rpi(bytes(INTERVALS[143].1))));
    assert_eq!(day.get(RPIS_PER_KEY), None);
}

#[test]
fn fill_reuses_a_buffer() {
    let mut buffer = DayRpis::default();
    RpiKey::from_bytes([0x11; 16])
        .fill_day_rpis(IntervalNumber(5), &mut buffer)
        .unwrap();
    RpiKey::derive(&tek())
        .fill_day_rpis(IntervalNumber(ROLLING_START), &mut buffer)
        .unwrap();
    assert_eq!(buffer.rolling_start(), IntervalNumber(ROLLING_START));
    for (i, (_, rpi, _)) in INTERVALS.iter().enumerate() {
        assert_eq!(buffer.get(i), Some(Rpi(bytes(rpi))), "interval {i}");
    }
}

#[test]
fn aem_all_144_encrypt_and_decrypt() {
    let metadata = Metadata::decode(&bytes::<4>(METADATA)).unwrap();
    assert_eq!(metadata.major_version(), 1);
    assert_eq!(metadata.minor_version(), 0);
    assert_eq!(metadata.tx_power_dbm(), 8);
    assert_eq!(
        Metadata::new(0, CalibrationConfidence::Lowest, 8).unwrap(),
        metadata
    );
    let key = AemKey::derive(&tek());
    for (i, (_, rpi, aem)) in INTERVALS.iter().enumerate() {
        let rpi = Rpi(bytes(rpi));
        let aem = Aem(bytes(aem));
        assert_eq!(key.encrypt(&rpi, &metadata), aem, "interval {i}");
        assert_eq!(key.decrypt(&rpi, &aem), Ok(metadata), "interval {i}");
        assert_eq!(
            ctr_crate_aem(bytes(AEMK), &rpi, bytes(METADATA)),
            aem.0,
            "interval {i}"
        );
    }
}

/// Walks the AD structures (`len ‖ type ‖ data`) and returns the GAEN service data payload.
fn gaen_service_data(advert: &[u8]) -> Option<&[u8]> {
    let mut rest = advert;
    while let Some((&len, tail)) = rest.split_first() {
        let (ad, next) = tail.split_at(usize::from(len));
        if let [0x16, 0x6f, 0xfd, payload @ ..] = ad {
            return Some(payload);
        }
        rest = next;
    }
    None
}

#[test]
fn advertisement_carries_interval_0() {
    let advert = hex::decode(ADVERTISEMENT).unwrap();
    assert_eq!(advert.len(), 31);
    let payload = gaen_service_data(&advert).unwrap();
    assert_eq!(payload.len(), 20);
    let (rpi, aem) = payload.split_at(16);

    let day = RpiKey::derive(&tek())
        .day_rpis(IntervalNumber(ROLLING_START))
        .unwrap();
    let rpi0 = day.get(0).unwrap();
    assert_eq!(rpi, rpi0.0);
    let metadata = Metadata::decode(&bytes::<4>(METADATA)).unwrap();
    assert_eq!(aem, AemKey::derive(&tek()).encrypt(&rpi0, &metadata).0);
}

#[test]
fn matching_window_boundaries() {
    let j = IntervalNumber(ROLLING_START);
    assert_eq!(MATCH_TOLERANCE_INTERVALS, 12);
    assert!(!sighting_matches(j, IntervalNumber(ROLLING_START - 13)));
    assert!(sighting_matches(j, IntervalNumber(ROLLING_START - 12)));
    assert!(sighting_matches(j, j));
    assert!(sighting_matches(j, IntervalNumber(ROLLING_START + 12)));
    assert!(!sighting_matches(j, IntervalNumber(ROLLING_START + 13)));
    // Near the ends of the u32 range nothing wraps.
    assert!(sighting_matches(IntervalNumber(0), IntervalNumber(12)));
    assert!(!sighting_matches(
        IntervalNumber(0),
        IntervalNumber(u32::MAX)
    ));
    assert!(sighting_matches(
        IntervalNumber(u32::MAX),
        IntervalNumber(u32::MAX - 12)
    ));
}

fn metadata_bytes() -> impl Strategy<Value = [u8; 4]> {
    // Major version 1 (bits 7..6 = 01), everything else arbitrary.
    any::<[u8; 4]>().prop_map(|[v, t, r0, r1]| [0x40 | (v & 0x3f), t, r0, r1])
}

proptest! {
    #[test]
    fn metadata_round_trips(raw in metadata_bytes()) {
        let metadata = Metadata::from_bytes(raw).unwrap();
        prop_assert_eq!(metadata.to_bytes(), raw);
        prop_assert_eq!(metadata.tx_power_dbm(), i8::from_le_bytes([raw[1]]));
        prop_assert_eq!(metadata.minor_version(), raw[0] >> 4 & 3);
    }

    #[test]
    fn metadata_new_round_trips(minor in 0u8..4, confidence in 0usize..4, tx in any::<i8>()) {
        let confidence = [
            CalibrationConfidence::Lowest,
            CalibrationConfidence::Low,
            CalibrationConfidence::Medium,
            CalibrationConfidence::High,
        ][confidence];
        let metadata = Metadata::new(minor, confidence, tx).unwrap();
        let decoded = Metadata::from_bytes(metadata.to_bytes()).unwrap();
        prop_assert_eq!(decoded, metadata);
        prop_assert_eq!(decoded.minor_version(), minor);
        prop_assert_eq!(decoded.calibration_confidence(), confidence);
        prop_assert_eq!(decoded.tx_power_dbm(), tx);
    }

    #[test]
    fn metadata_decode_rejects_bad_input(input in proptest::collection::vec(any::<u8>(), 0..8)) {
        let decoded = Metadata::decode(&input);
        let valid = input.len() == 4 && input[0] >> 6 == 1;
        prop_assert_eq!(decoded.is_ok(), valid);
    }

    #[test]
    fn aem_round_trips_and_equals_ctr(
        aemk in any::<[u8; 16]>(),
        rpi in any::<[u8; 16]>(),
        raw in metadata_bytes(),
    ) {
        let key = AemKey::from_bytes(aemk);
        let rpi = Rpi(rpi);
        let metadata = Metadata::from_bytes(raw).unwrap();
        let aem = key.encrypt(&rpi, &metadata);
        prop_assert_eq!(aem.0, ctr_crate_aem(aemk, &rpi, raw));
        prop_assert_eq!(key.decrypt(&rpi, &aem), Ok(metadata));
    }

    #[test]
    fn batched_equals_one_by_one(tek in any::<[u8; 16]>(), start in 0..=u32::MAX - 143) {
        let key = RpiKey::derive(&Tek(tek));
        let day = key.day_rpis(IntervalNumber(start)).unwrap();
        let mut count = 0;
        for (offset, (interval, rpi)) in (0u32..).zip(day.iter()) {
            prop_assert_eq!(interval, IntervalNumber(start + offset));
            prop_assert_eq!(rpi, key.rpi(interval));
            count += 1;
        }
        prop_assert_eq!(count, RPIS_PER_KEY);
    }

    #[test]
    fn matching_window_is_plus_minus_12(j in any::<u32>(), delta in -40i64..=40) {
        let seen = i64::from(j) + delta;
        prop_assume!(u32::try_from(seen).is_ok());
        let matched = sighting_matches(IntervalNumber(j), IntervalNumber(seen as u32));
        prop_assert_eq!(matched, i64::from(j) - 12 <= seen && seen <= i64::from(j) + 12);
    }

    #[test]
    fn key_validity_is_half_open(start in any::<u32>(), period in 1u32..=144, delta in -5i64..150) {
        let interval = i64::from(start) + delta;
        prop_assume!(u32::try_from(interval).is_ok());
        let valid = key_valid_at(
            IntervalNumber(start),
            RollingPeriod::new(period).unwrap(),
            IntervalNumber(interval as u32),
        );
        prop_assert_eq!(valid, (0..i64::from(period)).contains(&delta));
    }
}
