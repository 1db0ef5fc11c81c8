//! The export simulation's seeds, and its own guarantees (a seed replays
//! exactly).

use super::simulate;
use crate::sim::check_seeds;

/// Seeds below `DEFAULT_SEEDS` on which the export engine, as it is,
/// breaks an invariant: open engine defects the simulation found. A seed
/// that starts to pass after a fix must leave this list (the test says
/// so); a new failing seed fails the test. (A change to the engine moves
/// the seeds' paths: the list is made again from the test's output.) The
/// defects, of 413 seeds:
///
/// - 385 seeds, one root: the export finds an object it created only
///   through a UPN conflict, so a create is not idempotent once its answer
///   is lost (Graph's timeout, or a kill or an AWS failure between the POST
///   and the link record). A group has no UPN: its retry creates a second
///   group ("created twice: GROUP", 198). A user renamed before the retry
///   gets a second user (31). An AM object deleted before the retry was
///   never linked, so its REMOVE is "never exported" and the problem's
///   replay ignores a gone object with a `create` operation: the Entra
///   object stays, in the export group too ("left behind", 156). The fix
///   needs a port that finds an object by its mark (a `$filter` on the
///   directory extension), in the Graph adapter and the emulator.
/// - 23 seeds: the platform deletes an imported user with its memberships
///   of platform groups; by the time the membership's REMOVE is exported
///   the user is gone from AM, so `remove_membership` finds no Entra id
///   for it and ignores it ("a deleted user takes its memberships with
///   it", true only of the export's own users): Entra keeps the member.
/// - 5 seeds (110, 530, 668, 1064, 1806): a change refused for good
///   (`unverified_domain`, `privileged_account`) and then set back by the
///   platform: the second record agrees with the stored hash and is
///   ignored without reading the problems, so the problem stays open.
const KNOWN_FAILING: &[u64] = &[
    0, 9, 11, 12, 13, 16, 19, 24, 37, 38, 54, 57, 69, 80, 81, 82, 88, 105, 110, 112, 113, 120, 128,
    135, 141, 150, 154, 157, 158, 160, 176, 187, 203, 205, 206, 210, 212, 215, 218, 238, 250, 252,
    255, 259, 260, 261, 263, 264, 270, 280, 284, 287, 292, 301, 315, 317, 330, 331, 340, 341, 348,
    351, 352, 363, 366, 376, 382, 386, 397, 399, 406, 407, 411, 425, 427, 435, 443, 446, 452, 460,
    461, 464, 472, 485, 495, 502, 512, 521, 524, 530, 534, 538, 541, 545, 548, 549, 550, 558, 565,
    573, 574, 575, 577, 580, 588, 597, 599, 601, 610, 611, 619, 620, 622, 625, 626, 627, 644, 647,
    652, 655, 661, 666, 668, 669, 672, 673, 682, 688, 689, 690, 695, 699, 702, 712, 718, 720, 721,
    731, 738, 739, 741, 752, 753, 759, 761, 767, 769, 771, 776, 777, 783, 784, 785, 793, 804, 809,
    818, 832, 833, 836, 839, 840, 842, 849, 850, 851, 855, 857, 864, 872, 875, 880, 887, 888, 892,
    907, 911, 914, 917, 927, 931, 934, 935, 936, 959, 961, 963, 964, 965, 967, 969, 976, 981, 987,
    990, 991, 992, 995, 998, 1000, 1005, 1008, 1018, 1023, 1027, 1029, 1035, 1040, 1042, 1048,
    1052, 1053, 1060, 1061, 1064, 1066, 1068, 1076, 1086, 1095, 1103, 1105, 1107, 1117, 1119, 1122,
    1126, 1131, 1133, 1134, 1139, 1142, 1160, 1163, 1164, 1165, 1171, 1179, 1185, 1192, 1193, 1197,
    1199, 1205, 1206, 1207, 1215, 1230, 1235, 1245, 1247, 1250, 1255, 1260, 1266, 1271, 1274, 1289,
    1290, 1291, 1293, 1300, 1301, 1305, 1313, 1318, 1320, 1342, 1347, 1348, 1349, 1353, 1366, 1376,
    1383, 1384, 1388, 1390, 1397, 1398, 1399, 1403, 1406, 1411, 1420, 1425, 1427, 1432, 1436, 1438,
    1440, 1441, 1443, 1450, 1453, 1455, 1466, 1486, 1497, 1499, 1502, 1504, 1505, 1510, 1513, 1514,
    1522, 1534, 1536, 1540, 1542, 1547, 1555, 1558, 1562, 1564, 1570, 1576, 1580, 1583, 1585, 1589,
    1599, 1609, 1611, 1612, 1628, 1632, 1636, 1638, 1642, 1645, 1652, 1655, 1657, 1660, 1669, 1670,
    1672, 1673, 1674, 1675, 1680, 1689, 1699, 1702, 1706, 1710, 1711, 1717, 1726, 1730, 1734, 1735,
    1750, 1763, 1764, 1766, 1772, 1773, 1781, 1782, 1783, 1790, 1791, 1792, 1793, 1801, 1802, 1806,
    1807, 1818, 1821, 1825, 1830, 1831, 1833, 1837, 1841, 1852, 1859, 1861, 1875, 1877, 1878, 1880,
    1884, 1905, 1907, 1909, 1912, 1914, 1920, 1922, 1929, 1932, 1933, 1937, 1940, 1941, 1944, 1953,
    1965, 1966, 1969, 1970, 1984, 1989, 1990, 1991, 1994, 1995, 1999,
];

#[test]
fn seeds() {
    check_seeds("sim::export::tests::seeds", KNOWN_FAILING, simulate);
}

#[test]
fn a_seed_replays_exactly() {
    for seed in [1, 7, 42, 93, 302] {
        assert_eq!(simulate(seed).trace, simulate(seed).trace, "seed {seed}");
    }
}
