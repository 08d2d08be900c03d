//! A Korean test set for search: 56 realistic messages of a hospital's
//! internal-medicine ward, its ICU, the pharmacy and a direct room, and
//! 22 queries with the messages each must find for the nurse `kim`.
//!
//! `kim` is a member of the ward, the pharmacy and the direct room, not
//! of the ICU, and blocks `yoon`; `HIDDEN` lists, per query, the messages
//! that contain the query but that `kim` must never get (ICU or `yoon`).
//! Expected hits were written by reading each message: a query matches a
//! message that contains it, particles and endings attached
//! (환자 in 환자가, 환자분께, 환자들; 혈압 in 혈압은, 혈압약).

/// Where a message is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Room {
    /// 내과병동, the internal-medicine ward (kim, lee, park, yoon).
    Ward,
    /// 중환자실, the ICU (lee, choi): kim may not read it.
    Icu,
    /// 약제부, the pharmacy (kim, jung).
    Pharmacy,
    /// The direct room of kim and lee.
    Direct,
}

/// Room names.
pub const WARD: &str = "내과병동";
/// ICU.
pub const ICU: &str = "중환자실";
/// Pharmacy.
pub const PHARMACY: &str = "약제부";

/// (room, sender, text), numbered from 1 in the comments.
pub const MESSAGES: &[(Room, &str, &str)] = &[
    /* 1 */
    (
        Room::Ward,
        "kim",
        "305호 환자가 밤새 어지러움을 호소했습니다. 혈압 90/60입니다.",
    ),
    /* 2 */
    (
        Room::Ward,
        "lee",
        "305호 환자분께 수액 500ml 추가 처방했습니다.",
    ),
    /* 3 */
    (
        Room::Ward,
        "park",
        "302호 김영희 환자 체온 38.5도, 해열제 투약 완료",
    ),
    /* 4 */
    (
        Room::Ward,
        "kim",
        "301호 보호자가 퇴원 일정을 문의하셨어요.",
    ),
    /* 5 */
    (
        Room::Ward,
        "lee",
        "301호는 내일 오전 퇴원 예정입니다. 퇴원약 처방 넣었어요.",
    ),
    /* 6 */ (Room::Ward, "park", "308호 환자를 CT 검사실로 이송합니다."),
    /* 7 */ (Room::Ward, "kim", "혈압은 정상 범위로 돌아왔습니다."),
    /* 8 */ (Room::Ward, "lee", "당뇨 환자들 식전 혈당 체크 부탁드려요."),
    /* 9 */
    (
        Room::Ward,
        "park",
        "306호 혈당 250, 인슐린 4단위 투여했습니다.",
    ),
    /* 10 */ (Room::Ward, "kim", "오늘 채혈은 6시에 일괄 진행합니다."),
    /* 11 */
    (
        Room::Ward,
        "park",
        "304호 환자 채혈 실패, 다시 시도하겠습니다.",
    ),
    /* 12 */
    (
        Room::Ward,
        "lee",
        "307호 항생제 반응 확인해 주세요. 발진 생기면 바로 연락 주세요.",
    ),
    /* 13 */
    (
        Room::Ward,
        "kim",
        "307호 피부 발진 없습니다. 항생제 계속 유지합니다.",
    ),
    /* 14 */
    (
        Room::Ward,
        "park",
        "낙상 고위험 환자 침대 난간 올려 주세요.",
    ),
    /* 15 */
    (
        Room::Ward,
        "kim",
        "303호 환자분 낙상 사고 보고서 작성했습니다.",
    ),
    /* 16 */
    (
        Room::Ward,
        "lee",
        "수술 후 첫날이니 통증 조절 잘 해 주세요.",
    ),
    /* 17 */
    (
        Room::Ward,
        "kim",
        "수술 부위 드레싱 교체 완료, 삼출물 소량.",
    ),
    /* 18 */
    (
        Room::Ward,
        "park",
        "소변량 체크 부탁합니다. 시간당 30cc 이하면 보고.",
    ),
    /* 19 */ (Room::Ward, "kim", "병상 배정: 응급실에서 2명 올라옵니다."),
    /* 20 */ (Room::Ward, "lee", "내일 회진은 8시입니다."),
    /* 21 */ (Room::Ward, "park", "302호 열이 내렸습니다. 체온 37.2도."),
    /* 22 */
    (
        Room::Ward,
        "kim",
        "보호자 면회 시간은 오후 6시부터 8시까지입니다.",
    ),
    /* 23 */
    (
        Room::Ward,
        "lee",
        "309호 피검사 결과 나왔어요. 헤모글로빈 8.1",
    ),
    /* 24 */ (Room::Ward, "park", "수혈 동의서 받았습니다. 309호."),
    /* 25 */
    (
        Room::Ward,
        "kim",
        "309호 수혈 시작했습니다. 활력징후 15분마다 측정.",
    ),
    /* 26 */ (Room::Ward, "lee", "환자 상태 변화 있으면 바로 콜 주세요."),
    /* 27 */ (Room::Ward, "park", "진통제 PRN 투약 기록 확인 부탁드려요."),
    /* 28 */ (Room::Ward, "kim", "BP 다시 재보니 110/70 입니다."),
    /* 29 */ (Room::Ward, "lee", "308호 CT 결과 이상 없음."),
    /* 30 */ (Room::Ward, "kim", "야간 근무자 인계 사항 공유합니다."),
    /* 31 */
    (
        Room::Ward,
        "yoon",
        "혈압 측정기 고장났어요, 다른 병동 것 빌려옵니다.",
    ),
    /* 32 */ (Room::Ward, "park", "환자분들 아침 식사 후 투약 예정입니다."),
    /* 33 */
    (
        Room::Icu,
        "choi",
        "ICU 2번 환자 혈압 떨어져서 승압제 시작했습니다.",
    ),
    /* 34 */ (Room::Icu, "lee", "인공호흡기 설정 변경했습니다."),
    /* 35 */ (Room::Icu, "choi", "3번 환자 채혈 결과 칼륨 높아요."),
    /* 36 */ (Room::Icu, "lee", "수액 속도 줄여 주세요."),
    /* 37 */ (Room::Icu, "choi", "4번 환자 보호자 면담 예정"),
    /* 38 */ (Room::Icu, "lee", "항생제 변경: 반코마이신으로"),
    /* 39 */ (Room::Icu, "choi", "체온 39도, 혈액배양 나갑니다."),
    /* 40 */ (Room::Icu, "lee", "퇴원 아니고 일반병동 전동입니다."),
    /* 41 */ (Room::Icu, "choi", "인슐린 지속 주입 중, 혈당 매시간 체크."),
    /* 42 */ (Room::Icu, "choi", "낙상 위험 평가 완료."),
    /* 43 */ (Room::Icu, "lee", "수술 후 출혈 의심, 피 색깔 확인."),
    /* 44 */ (Room::Icu, "choi", "진통제 투약했습니다."),
    /* 45 */
    (
        Room::Pharmacy,
        "jung",
        "305호 수액 처방 확인했습니다. 오후에 올라갑니다.",
    ),
    /* 46 */ (Room::Pharmacy, "kim", "307호 항생제 재고 있나요?"),
    /* 47 */ (Room::Pharmacy, "jung", "항생제 세파졸린 재고 충분합니다."),
    /* 48 */ (Room::Pharmacy, "jung", "인슐린 펜 교체 시기 안내드립니다."),
    /* 49 */ (Room::Pharmacy, "kim", "퇴원약 301호 준비 부탁드려요."),
    /* 50 */
    (
        Room::Pharmacy,
        "jung",
        "퇴원약 조제 완료, 병동으로 보냈습니다.",
    ),
    /* 51 */
    (
        Room::Pharmacy,
        "kim",
        "마약류 진통제 잔량 확인 요청드립니다.",
    ),
    /* 52 */
    (
        Room::Pharmacy,
        "jung",
        "투약 오류 보고 양식이 바뀌었습니다.",
    ),
    /* 53 */
    (
        Room::Pharmacy,
        "jung",
        "처방 변경 시 약제부에 꼭 연락 주세요.",
    ),
    /* 54 */ (Room::Pharmacy, "kim", "혈압약 복용 시간 문의드립니다."),
    /* 55 */
    (
        Room::Direct,
        "lee",
        "환자 가족이 주치의 면담 원하시면 알려주세요.",
    ),
    /* 56 */ (Room::Direct, "kim", "네, 305호 보호자분이 면담 원하십니다."),
];

/// (query, messages kim must get, messages kim must never get), 1-based.
pub const QUERIES: &[(&str, &[usize], &[usize])] = &[
    (
        "환자",
        &[1, 2, 3, 6, 8, 11, 14, 15, 26, 32, 55],
        &[33, 35, 37],
    ),
    ("혈압", &[1, 7, 54], &[31, 33]),
    ("투약", &[3, 27, 32, 52], &[44]),
    ("수액", &[2, 45], &[36]),
    ("채혈", &[10, 11], &[35]),
    ("퇴원", &[4, 5, 49, 50], &[40]),
    ("체온", &[3, 21], &[39]),
    ("항생제", &[12, 13, 46, 47], &[38]),
    ("인슐린", &[9, 48], &[41]),
    ("낙상", &[14, 15], &[42]),
    ("보호자", &[4, 22, 56], &[37]),
    ("처방", &[2, 5, 45, 53], &[]),
    ("혈당", &[8, 9], &[41]),
    ("피", &[13, 23], &[43]),
    ("\"수술 후\"", &[16], &[43]),
    (
        "환자*",
        &[1, 2, 3, 6, 8, 11, 14, 15, 26, 32, 55],
        &[33, 35, 37],
    ),
    ("303호", &[15], &[]),
    ("bp", &[28], &[]),
    ("ct 결과", &[29], &[]),
    ("진통제", &[27, 51], &[44]),
    ("면담", &[55, 56], &[37]),
    ("병동", &[50], &[31, 40]),
];
