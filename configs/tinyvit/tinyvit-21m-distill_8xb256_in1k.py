_base_ = [
    './tinyvit-21m_8xb256_in1k.py',
]
